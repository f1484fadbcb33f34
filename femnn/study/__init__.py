"""Parameter studies: validated study files, cases, and an MPI runner (mpi4py imported only by the runner)."""

from femnn.study.spec import PARAMETERS, Study, case_id, load_study

__all__ = ["Study", "load_study", "case_id", "PARAMETERS"]
