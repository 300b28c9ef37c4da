import cProfile, pstats, time
from tests.integration import test_campaigns as tc
from tests.integration.test_campaigns import stack  # noqa: F401
import time_machine
def test_dbg(stack):
    tc._base(40)
    chosen = tc.campaign()
    campaigns = tc.control(stack)
    with time_machine.travel(tc.NOW, tick=False):
        campaigns.schedule(chosen)
    t=time.monotonic()
    pr=cProfile.Profile(); pr.enable()
    tc.fire(stack, tc.start_schedule_name(chosen.id))
    pr.disable()
    print("took", time.monotonic()-t, len(stack.emails()))
    pstats.Stats(pr).sort_stats("tottime").print_stats(15)
