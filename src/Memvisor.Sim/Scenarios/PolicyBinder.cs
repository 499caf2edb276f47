using Memvisor.Hypervisor.Personalities;
using Memvisor.Machine.Frames;
using YamlDotNet.RepresentationModel;

namespace Memvisor.Sim.Scenarios;

/// <summary>Binds <c>policy:</c>: the policy daemon and the settings of the policy it names.</summary>
internal static class PolicyBinder
{
    private static readonly string[] PolicyKeys =
        ["name", "interval", "reserve", "stuck_after", "uncooperative_after", "pressure_threshold", "critical_threshold", "max_change", "min_guest_free",
         "max_guest_free", "idle_tax", "sample_period", "sample_size", "command", "timeout"];
    // Which policies each setting belongs to.
    private static readonly Dictionary<string, string[]> PolicySettingOwners = new()
    {
        ["reserve"] = ["squeezed", "hyperv", "predictive"], ["stuck_after"] = ["squeezed"], ["uncooperative_after"] = ["squeezed"],
        ["pressure_threshold"] = ["mom"], ["critical_threshold"] = ["mom"], ["max_change"] = ["mom"], ["min_guest_free"] = ["mom"], ["max_guest_free"] = ["mom"],
        ["idle_tax"] = ["esx"], ["sample_period"] = ["esx"], ["sample_size"] = ["esx"],
        ["command"] = [PolicySpec.ExternalName], ["timeout"] = [PolicySpec.ExternalName],
    };

    // policy: { name, interval, ... } with the named policy's own settings.
    // Without a name, the policy is the host's hypervisor's own (xen: squeezed, esx: esx, kvm: mom, hyperv: hyperv).
    internal static PolicySpec? BindPolicy(YamlBinder b, YamlNode node, HostPersonality host)
    {
        var f = b.Fields(node, "policy", PolicyKeys, []);
        var spec = new PolicySpec { Name = host.NativePolicy, Named = false };
        if (f.TryGetValue("name", out var n)) spec = spec with { Name = b.OneOf(n, "policy.name", [.. PolicySpec.Names, PolicySpec.ExternalName]) ?? spec.Name, Named = true };
        if (spec.Name == PolicySpec.ExternalName) spec = spec with { External = BindExternal(b, f, node) };
        if (f.TryGetValue("interval", out var i)) spec = spec with { IntervalNs = b.Interval(i, "policy.interval") ?? spec.IntervalNs };
        var sq = spec.Squeezed;
        if (f.TryGetValue("reserve", out var r) && b.Size(r, "policy.reserve") is long reserve)
        {
            sq = sq with { ReservePages = PageSize.FromBytes(reserve) };
            spec = spec with { HyperV = spec.HyperV with { ReservePages = PageSize.FromBytes(reserve) }, Predictive = spec.Predictive with { ReservePages = PageSize.FromBytes(reserve) } };
        }
        if (f.TryGetValue("stuck_after", out var sa)) sq = sq with { StuckAfter = (int)(b.Integer(sa, "policy.stuck_after", 1, 1000) ?? sq.StuckAfter) };
        if (f.TryGetValue("uncooperative_after", out var ua)) sq = sq with { UncooperativeAfter = (int)(b.Integer(ua, "policy.uncooperative_after", 1, 1000) ?? sq.UncooperativeAfter) };
        var mom = spec.Mom;
        double? Share(string key) => f.TryGetValue(key, out var v) ? b.Share(v, $"policy.{key}") : null;
        mom = mom with
        {
            PressureThreshold = Share("pressure_threshold") ?? mom.PressureThreshold,
            CriticalThreshold = Share("critical_threshold") ?? mom.CriticalThreshold,
            MaxChange = Share("max_change") ?? mom.MaxChange,
            MinGuestFree = Share("min_guest_free") ?? mom.MinGuestFree,
            MaxGuestFree = Share("max_guest_free") ?? mom.MaxGuestFree,
        };
        var esx = spec.Esx;
        if (f.TryGetValue("idle_tax", out var tax)) esx = esx with { IdleTax = b.Share(tax, "policy.idle_tax") is double t ? Math.Min(t, 0.99) : esx.IdleTax };
        var activity = spec.Activity;
        if (f.TryGetValue("sample_period", out var sp)) activity = activity with { PeriodNs = b.Interval(sp, "policy.sample_period") ?? activity.PeriodNs };
        if (f.TryGetValue("sample_size", out var ss)) activity = activity with { SampleSize = (int)(b.Integer(ss, "policy.sample_size", 1, 256) ?? activity.SampleSize) };
        if (sq.UncooperativeAfter < sq.StuckAfter)
            b.Error(f.GetValueOrDefault("uncooperative_after") ?? node, "policy.uncooperative_after", $"a domain is marked uncooperative ({sq.UncooperativeAfter} decisions) only after it is stuck ({sq.StuckAfter}).");
        if (mom.CriticalThreshold > mom.PressureThreshold)
            b.Error(f.GetValueOrDefault("critical_threshold") ?? node, "policy.critical_threshold", $"the critical threshold ({mom.CriticalThreshold:P0} free) is above the pressure threshold ({mom.PressureThreshold:P0}); critical is the lower of the two.");
        if (mom.MinGuestFree > mom.MaxGuestFree)
            b.Error(f.GetValueOrDefault("min_guest_free") ?? node, "policy.min_guest_free", $"min_guest_free ({mom.MinGuestFree:P0}) is above max_guest_free ({mom.MaxGuestFree:P0}).");
        foreach (var (key, owners) in PolicySettingOwners)
            if (f.ContainsKey(key) && !owners.Contains(spec.Name))
                b.Error(f[key], $"policy.{key}", $"'{key}' is a setting of {string.Join(" and ", owners)}, not of {spec.Name}.");
        return spec with { Squeezed = sq, Mom = mom, Esx = esx, Activity = activity };
    }

    // command: [program, args...] (a program name is looked up on PATH; it starts in the scenario file's directory), timeout: per decision.
    private static ExternalPolicySpec? BindExternal(YamlBinder b, Dictionary<string, YamlNode> f, YamlNode node)
    {
        long timeout = f.TryGetValue("timeout", out var t) ? b.PositiveDuration(t, "policy.timeout") ?? ExternalPolicySpec.DefaultTimeoutNs : ExternalPolicySpec.DefaultTimeoutNs;
        if (timeout > 600_000_000_000)
        {
            b.Error(t, "policy.timeout", "a decision may take at most 10min.");
            return null;
        }
        if (!f.TryGetValue("command", out var c))
        {
            b.Error(node, "policy.command", "an external policy needs the program to run, as a list: command: [python3, mypolicy.py].");
            return null;
        }
        if (c is not YamlSequenceNode words || words.Children.Count is 0 or > 64)
        {
            b.Error(c, "policy.command", "give the program and its arguments as a list of 1 to 64 words: command: [python3, mypolicy.py].");
            return null;
        }
        var command = new List<string>();
        for (int i = 0; i < words.Children.Count; i++)
        {
            if (words.Children[i] is not YamlScalarNode)
            {
                b.Error(words.Children[i], $"policy.command[{i}]", "each word of the command is a string.");
                return null;
            }
            // An empty word is refused by String itself.
            if (b.String(words.Children[i], $"policy.command[{i}]") is not { } word) return null;
            if (word.Length > 4096 || word.Contains('\0'))
            {
                b.Error(words.Children[i], $"policy.command[{i}]", "each word of the command is a non-empty string of at most 4096 characters.");
                return null;
            }
            command.Add(word);
        }
        // A program named with a slash is the scenario directory's (made a full path now); a bare name is looked up on PATH when it starts.
        if (command[0].Contains('/')) command[0] = Path.GetFullPath(Path.Combine(b.BaseDirectory, command[0]));
        return new ExternalPolicySpec(command, b.BaseDirectory, timeout);
    }
}
