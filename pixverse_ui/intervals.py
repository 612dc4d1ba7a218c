"""Every interval the library waits or looks again at, in one place.

The poll schedule itself (when to ask the API next) is ``polling.PollSchedule``; what is here
bounds the waits around it: how long a driver or a follower waits before it looks again even
with no news (each is woken on news anyway, so these only bound a wait, never pace a loop).
"""

from __future__ import annotations

#: The least time a request made at or past a job's deadline still gets: the last look at it.
LAST_LOOK = 0.5
#: The first pause before writing a new generation id into a busy ledger again (doubled at
#: each of ``submission.ID_WRITE_ATTEMPTS``).
ID_WRITE_BACKOFF = 0.2
#: A start still "submitting" this long after its row was written, by a process nobody here can
#: ask about, was abandoned: a POST's connect and read timeouts are 5 s and 30 s and it is never
#: sent twice (a process on this machine is asked directly, see ``processes.is_gone``).
SUBMIT_ABANDONED = 120.0
#: However fast an endpoint runs (the simulator), never poll more often than this.
MIN_REAL_INTERVAL = 0.1
#: The pollers' scheduler looks again at least this often, even with nothing due.
IDLE_CHECK = 60.0
#: A poll worker with nothing to do for this long leaves (the next loop starts another).
WORKER_LINGER = 10.0
#: How often a follower with a stop event looks at it.
STOP_CHECK = 0.25
#: The longest an event-loop follower waits before looking again (it is woken on news anyway).
FOLLOW_STEP = 5.0
#: The least time between two redraws of a notebook's live panel (a new state always redraws):
#: a throttle on updates, not a timer.
REDRAW_EVERY = 0.1
#: A batch's table is redrawn when one of its jobs has news, and at least this often (the times
#: in it move on).
BATCH_REDRAW_MAX = 1.0
#: The longest a storyboard's take held back by a shared key's rate waits to be sent when none of
#: its run is running (a start fits again within a minute, unless the visitor's other jobs run
#: on); then the run stops, saying which shot waits, and finishing it later sends it.
RATE_WAIT_MAX = 600.0
#: How often an open page asks whether its visitor's running jobs or History changed (one read
#: of the ledger's owner index; nothing is drawn or sent when nothing changed).
PAGE_TICK = 3.0
#: A closed page's session is forgotten once more this long after its unload: an event of the
#: page still in flight at the close (the timer's tick) makes Gradio keep it again.
FORGET_AGAIN_AFTER = 10.0
