"""Nightly retraining (``forecast retrain``): refresh each job's data, train a challenger, keep the better model.

One module per job of its own, in the order a night runs them:

``config``    the nightly config's schema (:class:`~forecaster.nightly.config.NightlyConfig`,
              :class:`~forecaster.nightly.config.JobConfig`), ``load_nightly``, each job's config
``run``       :func:`~forecaster.nightly.run.retrain`: the chosen jobs on an executor, the summary
``job``       :func:`~forecaster.nightly.job.run_job`: one job from lock to prune
``holdout``   challenger, champion and baselines scored on the same newest origins
``decide``    the promotion decision, a pure function of those scores and the policy
``status``    the statuses a job ends in
``summary``   the job outcomes and the run summary, written under ``runs/``
``overview``  the overview page ``reports/index.html``, built from the run summaries

Nothing is imported here, so the overview page can be built without loading the training stack.
"""
