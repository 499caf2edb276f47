using Memvisor.Sim.Engine;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Sim.Lab;

/// <summary>Runs one scenario under several policies, on the same workloads and seed, as many at once as the machine has cores.</summary>
public static class PolicyLab
{
    /// <summary>The scenario with its policy replaced by <paramref name="policy"/> (keeping the scenario's interval, and its settings when it names the same policy).</summary>
    public static Scenario WithPolicy(Scenario scenario, string policy)
    {
        var current = scenario.Policy;
        var spec = current is not null && current.Name == policy ? current : new PolicySpec { Name = policy, IntervalNs = current?.IntervalNs ?? new PolicySpec().IntervalNs };
        return scenario with { Policy = spec };
    }

    /// <summary>Runs each policy; <paramref name="progress"/> hears (policy, share done) from any thread. Results come back in the order of <paramref name="policies"/>.</summary>
    public static IReadOnlyList<(RunResult Result, double WallSeconds)> Run(Scenario scenario, IReadOnlyList<string> policies, ulong? seed, int parallelism,
        Action<string, double>? progress = null, CancellationToken cancel = default) =>
        RunAll([.. policies.Select(p => (p, WithPolicy(scenario, p)))], seed, parallelism, progress, cancel);

    /// <summary>Runs each named scenario (one scenario varied: by policy, or by hypervisor), <paramref name="parallelism"/> at once, each stepping its guests on <paramref name="threads"/>; results come back in the order given.</summary>
    public static IReadOnlyList<(RunResult Result, double WallSeconds)> RunAll(IReadOnlyList<(string Name, Scenario Scenario)> runs, ulong? seed, int parallelism,
        Action<string, double>? progress = null, CancellationToken cancel = default, int threads = 1)
    {
        var results = new (RunResult, double)[runs.Count];
        Parallel.For(0, runs.Count, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, parallelism), CancellationToken = cancel }, i =>
        {
            var (name, scenario) = runs[i];
            var wall = System.Diagnostics.Stopwatch.StartNew();
            var result = new Simulation(scenario, seed, threads: threads).Run(done => progress?.Invoke(name, done), cancel);
            results[i] = (result, wall.Elapsed.TotalSeconds);
        });
        return results;
    }
}
