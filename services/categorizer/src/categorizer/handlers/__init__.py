"""categorizer's handlers: one function per command or event, taking what bootstrap() wired (`Deps`).

stream.py       on_event: TransactionChanged -> TransactionCategorized; ItemLinked / ItemRemoved
corrections.py  on_category_overridden: record the override, learn, start a job
jobs.py         start_job, run_batch, JobRunner (the worker that drives unfinished jobs), get_job
rules.py        create / list / get / update / delete a user's rules, preview_rule
categorize.py   categorize: the pure preview, nothing stored
"""

from .context import Deps

__all__ = ["Deps"]
