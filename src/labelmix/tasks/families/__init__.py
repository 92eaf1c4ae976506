"""Task formatters by family, each written from the dataset's Hugging Face Hub row schema.

`classification` (one text or a text pair with a binary label), `multiple_choice` (question and
answers made binary: the correct answer or a random distractor) and `reading` (multiple choice over
a passage or dialogue). Each module exposes `SPECS: list[TaskSpec]` for the registry."""
