using Memvisor.Sim.Engine;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Sim.Lab;

/// <summary>One count tried by the density search and how it went.</summary>
public sealed record FitTrial(int Count, PolicyOutcome Outcome, bool Met, string Reason);

/// <summary>
/// Finds the largest count of one domain type that still meets a service level under a policy: counts double
/// until one fails (or the cap is reached), then a binary search between the last that met it and the first that did not.
/// </summary>
public static class DensitySearch
{
    public static Scenario WithCount(Scenario scenario, string domain, int count) =>
        scenario with { Domains = [.. scenario.Domains.Select(d => d.Name == domain ? d with { Count = count } : d)] };

    public static (int Best, IReadOnlyList<FitTrial> Trials) Run(Scenario scenario, string domain, string policy, ServiceLevel sla, int maxCount, ulong? seed,
        Action<int>? trying = null, CancellationToken cancel = default)
    {
        var trials = new List<FitTrial>();
        var withPolicy = PolicyLab.WithPolicy(scenario, policy);
        bool Try(int n)
        {
            trying?.Invoke(n);
            var outcome = PolicyOutcome.From(new Simulation(WithCount(withPolicy, domain, n), seed).Run(cancel: cancel));
            bool met = sla.IsMet(outcome, out string reason);
            trials.Add(new FitTrial(n, outcome, met, reason));
            return met;
        }
        int good = 0, bad = maxCount + 1;
        for (int n = 1; n <= maxCount; n = Math.Min(maxCount, n * 2))
        {
            if (!Try(n)) { bad = n; break; }
            good = n;
            if (n == maxCount) break;
        }
        while (bad - good > 1 && bad <= maxCount)
        {
            int mid = good + (bad - good) / 2;
            if (Try(mid)) good = mid;
            else bad = mid;
        }
        return (good, trials);
    }
}
