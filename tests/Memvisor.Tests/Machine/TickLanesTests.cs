using FsCheck;
using FsCheck.Fluent;
using Memvisor.Machine.Lanes;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Machine;

/// <summary>
/// The lanes that step a tick's guests: whatever the thread count, a run equals running every step's part before its
/// first turn, then every step's rest in index order (the model below), and what a step does outside its turn stays
/// its own.
/// </summary>
public class TickLanesTests
{
    // One step's program: private work, then (maybe) a turn, then entries appended to the shared log.
    private sealed record StepPlan(int PrivateWork, bool TakesTurn, int[] Appends)
    {
        public override string ToString() => $"(work {PrivateWork}, turn {TakesTurn}, appends [{string.Join(",", Appends)}])";
    }

    private static readonly Gen<StepPlan> PlanGen =
        from work in Gen.Choose(0, 20_000)
        from turn in Gen.Elements(true, false, false)
        from appends in Gen.Choose(0, 3).SelectMany(n => Gen.Choose(0, 99).ArrayOf(n))
        select new StepPlan(work, turn, appends);

    // Runs the plans on lanes: a step's appends before its turn go to its own list, after it to the shared log.
    private static (List<(int Step, int Value)> Shared, long[] Private, long WithTurn) RunOnLanes(StepPlan[] plans, int threads, int ticks)
    {
        var shared = new List<(int, int)>();
        var own = new long[plans.Length];
        using var lanes = new TickLanes(threads);
        for (int t = 0; t < ticks; t++)
            lanes.Run(plans.Length, i =>
            {
                var p = plans[i];
                long acc = own[i];
                for (int k = 0; k < p.PrivateWork; k++) acc = acc * 31 + k;
                own[i] = acc;
                if (p.TakesTurn) Turn.Take();
                // Outside a turn this would race with the other lanes: the turn is what makes it safe and ordered.
                if (Turn.Held)
                    foreach (int v in p.Appends) shared.Add((i, v + t));
            });
        return (shared, own, lanes.StepsWithTurn);
    }

    // The model: every step's private part, then the turns in index order (a step without a turn that is not alone
    // appends nothing: it never held shared state).
    private static List<(int Step, int Value)> Model(StepPlan[] plans, int ticks)
    {
        var shared = new List<(int, int)>();
        for (int t = 0; t < ticks; t++)
            for (int i = 0; i < plans.Length; i++)
                if (plans[i].TakesTurn || plans.Length == 1)
                    foreach (int v in plans[i].Appends) shared.Add((i, v + t));
        return shared;
    }

    [Fact]
    public void Any_thread_count_gives_the_shared_log_of_the_model_and_the_same_private_state()
    {
        var gen = from plans in PlanGen.ArrayOf().Where(a => a.Length is > 0 and <= 12)
                  from threads in Gen.Choose(1, 4)
                  from ticks in Gen.Choose(1, 3)
                  select (plans, threads, ticks);
        Properties.Check(gen, c =>
        {
            var (shared, own, withTurn) = RunOnLanes(c.plans, c.threads, c.ticks);
            var (oneShared, oneOwn, _) = RunOnLanes(c.plans, 1, c.ticks);
            Assert.Equal(Model(c.plans, c.ticks), shared);
            Assert.Equal(oneShared, shared);
            Assert.Equal(oneOwn, own);
            if (c.plans.Length > 1) Assert.Equal(c.ticks * c.plans.Count(p => p.TakesTurn), withTurn);
        }, maxTest: 60);
    }

    [Fact]
    public void Steps_run_beside_each_other_until_their_turns_which_come_one_at_a_time_in_index_order()
    {
        using var lanes = new TickLanes(3);
        int inside = 0, most = 0, insideTurn = 0, mostInTurn = 0;
        var order = new List<int>();
        using var allStarted = new CountdownEvent(3);
        lanes.Run(6, i =>
        {
            int now = Interlocked.Increment(ref inside);
            InterlockedMax(ref most, now);
            if (i < 3)
            {
                // The first three wait for each other: they can only all get here if they run at once.
                allStarted.Signal();
                Assert.True(allStarted.Wait(TimeSpan.FromSeconds(30)), "three lanes did not run at once");
            }
            Interlocked.Decrement(ref inside);
            Turn.Take();
            InterlockedMax(ref mostInTurn, Interlocked.Increment(ref insideTurn));
            order.Add(i);
            Interlocked.Decrement(ref insideTurn);
        });
        Assert.Equal(3, most);
        Assert.Equal(1, mostInTurn);
        Assert.Equal([0, 1, 2, 3, 4, 5], order);
        Assert.Equal(6, lanes.StepsWithTurn);
    }

    [Fact]
    public void A_step_that_throws_stops_the_turns_after_it_and_is_rethrown_and_the_lanes_go_on()
    {
        using var lanes = new TickLanes(2);
        var done = new List<int>();
        var e = Assert.Throws<InvalidOperationException>(() => lanes.Run(4, i =>
        {
            Turn.Take();
            if (i == 1) throw new InvalidOperationException("step 1 failed");
            done.Add(i);
        }));
        Assert.Equal("step 1 failed", e.Message);
        // Step 0's turn came before the failure; steps 2 and 3 were stopped at their turns, as one loop stops.
        Assert.Equal([0], done);
        lanes.Run(3, i => { Turn.Take(); done.Add(10 + i); });
        Assert.Equal([0, 10, 11, 12], done);
    }

    [Fact]
    public void A_shared_structure_reached_outside_a_turn_stops_the_run_and_inside_one_it_does_not()
    {
        using var lanes = new TickLanes(2);
        var e = Assert.Throws<TurnMissedException>(() => lanes.Run(3, i =>
        {
            if (i == 0) Turn.Take();
            Turn.Require("the heap");
        }));
        Assert.Contains("reached the heap outside its turn", e.Message);
        lanes.Run(3, i =>
        {
            Turn.Take();
            Turn.Require("the heap");
        });
        // Outside lanes there is nothing to wait for.
        Turn.Require("the heap");
        Assert.True(Turn.Held);
        Assert.False(Turn.Take());
    }

    [Fact]
    public void Fewer_than_one_thread_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new TickLanes(0));
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen) { }
    }
}
