"""Label your own data: a project folder with a durable ledger (SQLite), batches for real
annotators or a machine labeler, imports with validation, and training on what was bought."""

from labelmix.project.project import Batch, ImportReport, Project, Status, TrainedClassifier

__all__ = ["Batch", "ImportReport", "Project", "Status", "TrainedClassifier"]
