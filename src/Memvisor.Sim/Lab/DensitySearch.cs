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
    /// <summary>
    /// The scenario with <paramref name="count"/> instances of <paramref name="domain"/>. With <paramref name="createEveryNs"/>
    /// above 0 they are not started together but created one after another, that far apart (the first at 0), as Xen 3.3's
    /// overcommit note starts domains so that each balloons down before the next arrives.
    /// </summary>
    public static Scenario WithCount(Scenario scenario, string domain, int count, long createEveryNs = 0)
    {
        var domains = scenario.Domains.Select(d => d.Name != domain ? d : d with { Count = count, Autostart = d.Autostart && createEveryNs <= 0 }).ToList();
        var spec = domains.Single(d => d.Name == domain);
        var names = spec.InstanceNames().ToList();
        // An action that named the one instance (mem-set, save, migrate, ...) applies to each of the copies: their
        // names are NAME-1 .. NAME-N now, and an action naming NAME alone would find none of them.
        var events = scenario.Events.SelectMany(e => names.Count > 1 && e.Domain == domain && e.Action != ActionKind.Create
            ? names.Select(n => e with { Domain = n }) : [e]).ToList();
        if (createEveryNs <= 0) return scenario with { Domains = domains, Events = events };
        var creates = names.Select((name, i) => new ActionSpec(i * createEveryNs, ActionKind.Create, name, null, spec.Line));
        return scenario with { Domains = domains, Events = [.. events, .. creates] };
    }

    /// <summary>
    /// The search names the instances of <paramref name="domain"/> NAME, NAME-1 .. NAME-<paramref name="maxCount"/>: the
    /// first of those names that is already another domain's instance, or null when none is.
    /// </summary>
    public static string? ClashingInstance(Scenario scenario, string domain, int maxCount)
    {
        var others = scenario.Instances().Where(i => i.Spec.Name != domain).Select(i => i.Name).ToHashSet();
        return Enumerable.Range(1, maxCount).Select(i => $"{domain}-{i}").Prepend(domain).FirstOrDefault(others.Contains);
    }

    /// <param name="tried">Hears each count tried, its run and whether it met the service level (a sweep keeps the best count's run).</param>
    public static (int Best, IReadOnlyList<FitTrial> Trials) Run(Scenario scenario, string domain, string policy, ServiceLevel sla, int maxCount, ulong? seed,
        Action<int>? trying = null, CancellationToken cancel = default, long createEveryNs = 0, int threads = 1, Action<int, RunResult, bool>? tried = null)
    {
        var trials = new List<FitTrial>();
        var withPolicy = PolicyLab.WithPolicy(scenario, policy);
        bool Try(int n)
        {
            trying?.Invoke(n);
            var run = new Simulation(WithCount(withPolicy, domain, n, createEveryNs), seed, threads: threads).Run(cancel: cancel);
            var outcome = PolicyOutcome.From(run);
            bool met = sla.IsMet(outcome, out string reason);
            trials.Add(new FitTrial(n, outcome, met, reason));
            tried?.Invoke(n, run, met);
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
