"""Cases: a complaint or a piece of feedback followed from intake to its answer (DESIGN §7.1).

* ``workflow`` — the workflow file's schema (categories, deadlines, customer texts) and
  ``workflow_file`` reading it with ``PATH:LINE`` errors; ``library`` keeps the one in force.
* ``numbers``, ``stages``, ``texts`` — case numbers, the fixed stages, the customer texts.
* ``service`` — opening a case and each step on it (progress, extension, party, resolve);
  ``plans`` builds what the store writes for each.
* ``notices`` — the customer's messages, sent by timers through the outbound service.
* ``deadlines`` — due-soon and overdue timers; ``questions`` — the interceptor answering
  "where is my case?"; ``parties`` — merchants brought in by email; ``stats``.
"""
