using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Personalities;
using Memvisor.Machine.Frames;
using Memvisor.Machine.Time;
using Memvisor.Native;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Memvisor.Sim.Scenarios;

/// <summary>
/// Loads a scenario from YAML and checks it whole before anything runs: unknown keys, bad types and units,
/// dangling references and impossible configurations (maxmem below memory, static domains that cannot fit) are
/// each reported with file, line, column and field.
/// </summary>
public static class ScenarioLoader
{
    public const string Dom0Name = "Domain-0";

    private static readonly string[] TopKeys = ["name", "seed", "duration", "host", "hosts", "domains", "events", "sim", "costs", "policy", "balance"];
    private static readonly string[] BalanceKeys = ["interval", "target_stddev"];
    private static readonly string[] EventKeys = ["at", "action", "domain", "memory", "to", "host", "postcopy", "precopy_rounds", "node"];
    private static readonly string[] SimKeys = ["tick", "sample"];
    private static readonly string[] Actions = ["create", "destroy", "restart", "save", "restore", "migrate", "evacuate", "mem-set", "mem-max", "paging-target", "hot-add", "hot-remove", "migratepages"];

    public static Scenario LoadFile(string path) => Parse(ReadText(path, "scenario"), path);

    /// <summary>The text of a YAML file (a scenario or a sweep), refusing what is not a readable regular file of a sane size.</summary>
    public static string ReadText(string path, string what)
    {
        // A FIFO or a device would never end and a directory cannot be read: refused before they are opened.
        if (FileStat.WhyNotRegular(path) is { } why)
            throw Refused(path, 0, 0, "(file)", $"the {what} {why}.");
        string text;
        try
        {
            if (new FileInfo(path).Length > YamlLimits.MaxBytes)
                throw Refused(path, 0, 0, "(file)", $"the file is larger than {YamlLimits.MaxBytes >> 20} MiB; a {what} is a short YAML file.");
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Refused(path, 0, 0, "(file)", $"the file could not be read: {e.Message}");
        }
        return text;
    }

    /// <summary>Binds a scenario from a YAML tree already loaded (a sweep's point: the base scenario with its axes' values set).</summary>
    public static Scenario ParseTree(YamlNode root, string file)
    {
        if (YamlLimits.CheckTree(root, file) is { } expanded) throw new ScenarioException([expanded]);
        var b = new YamlBinder(file);
        var scenario = Bind(b, root, file);
        if (b.Errors.Count > 0 || scenario is null) throw new ScenarioException(b.Errors);
        return scenario;
    }

    public static Scenario Parse(string text, string file)
    {
        var stream = new YamlStream();
        try
        {
            // The limits are checked on the parser's events first: loading a tree nested without end would exhaust the stack.
            if (YamlLimits.Check(text, file) is { } tooBig) throw new ScenarioException([tooBig]);
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            throw Refused(file, e.Start.Line, e.Start.Column, "(syntax)", $"this is not valid YAML: {(e.InnerException ?? e).Message}");
        }
        if (stream.Documents.Count == 0)
            throw Refused(file, 1, 1, "(file)", "the file is empty; a scenario needs at least name, duration, host and domains.");
        if (YamlLimits.CheckTree(stream.Documents[0].RootNode, file) is { } expanded) throw new ScenarioException([expanded]);

        var b = new YamlBinder(file);
        var scenario = Bind(b, stream.Documents[0].RootNode, file);
        if (b.Errors.Count > 0 || scenario is null) throw new ScenarioException(b.Errors);
        return scenario;
    }

    private static ScenarioException Refused(string file, long line, long column, string field, string message) =>
        new([new ScenarioError(file, (int)Math.Min(line, int.MaxValue), (int)Math.Min(column, int.MaxValue), field, message)]);

    private static Scenario? Bind(YamlBinder b, YamlNode root, string file)
    {
        var top = b.Fields(root, "", TopKeys, ["name", "duration", "domains"]);
        string name = top.TryGetValue("name", out var n) ? b.String(n, "name") ?? "" : "";
        if (n is not null && name.Length > 0) ScenarioChecks.CheckScenarioName(b, n, name);
        ulong seed = top.TryGetValue("seed", out var s) ? (ulong)(b.Integer(s, "seed", 0, long.MaxValue) ?? 0) : 0;
        long duration = top.TryGetValue("duration", out var du) ? b.Duration(du, "duration") ?? 0 : 0;
        if (top.ContainsKey("duration") && duration == 0 && b.Errors.Count == 0) b.Error(du, "duration", "a scenario must last longer than zero.");

        var hosts = BindHosts(b, root, top);
        HostSpec? host = hosts.Count > 0 ? hosts[0] : null;

        PolicySpec? policy = top.TryGetValue("policy", out var pn) ? PolicyBinder.BindPolicy(b, pn, host?.Personality ?? Hypervisor.Personalities.HostPersonality.Xen) : null;

        BalanceSpec? balance = top.TryGetValue("balance", out var bn) ? BindBalance(b, bn, hosts.Count) : null;

        long tick = 100_000_000, sample = 1_000_000_000;
        if (top.TryGetValue("sim", out var simNode))
        {
            var sim = b.Fields(simNode, "sim", SimKeys, []);
            if (sim.TryGetValue("tick", out var t) && b.Duration(t, "sim.tick", ScenarioLimits.MaxTickNs) is long tk)
            {
                if (tk < ScenarioLimits.MinTickNs) b.Error(t, "sim.tick", "a guest tick is at least 1ms.");
                else tick = tk;
            }
            if (sim.TryGetValue("sample", out var sa) && b.Duration(sa, "sim.sample") is long sm)
            {
                if (sm < ScenarioLimits.MinTickNs) b.Error(sa, "sim.sample", "the sample interval is at least 1ms.");
                else sample = sm;
            }
        }
        if (duration / tick > ScenarioLimits.MaxTicks)
            b.Error(du, "duration", $"{duration / 1e9:0.###}s in guest ticks of {tick / 1e6:0.###}ms is more than {ScenarioLimits.MaxTicks:N0} ticks, which would run for days; shorten the duration or lengthen sim.tick.");
        else if (policy is not null && duration / policy.IntervalNs > ScenarioLimits.MaxTicks)
            b.Error(du, "duration", $"{duration / 1e9:0.###}s in policy decisions every {policy.IntervalNs / 1e6:0.###}ms is more than {ScenarioLimits.MaxTicks:N0} decisions; lengthen policy.interval.");
        else if (duration / sample > ScenarioLimits.MaxTicks)
            b.Error(du, "duration", $"{duration / 1e9:0.###}s in samples of {sample / 1e6:0.###}ms is more than {ScenarioLimits.MaxTicks:N0} samples; lengthen sim.sample.");

        var costs = new Dictionary<string, double>();
        if (top.TryGetValue("costs", out var costNode))
        {
            var fields = b.Fields(costNode, "costs", CostModel.Names.ToArray(), []);
            foreach (var (key, value) in fields)
                if (b.Number(value, $"costs.{key}", key == "cpu_ghz" ? 0.1 : 0, key == "cpu_ghz" ? 1_000 : 1e15) is double v) costs[key] = v;
        }

        var domains = new List<DomainSpec>();
        if (top.TryGetValue("domains", out var dn))
        {
            if (dn is not YamlSequenceNode seq || seq.Children.Count == 0)
                b.Error(dn, "domains", "expected a list of at least one domain.");
            else
                for (int i = 0; i < seq.Children.Count; i++)
                    if (DomainBinder.BindDomain(b, seq.Children[i], $"domains[{i}]", host?.Personality ?? Hypervisor.Personalities.HostPersonality.Xen) is { } d) domains.Add(d);
            long instances = domains.Sum(d => (long)d.Count);
            if (instances > ScenarioLimits.MaxDomains)
                b.Error(dn, "domains", $"the scenario declares {instances:N0} domains (counting every instance); a host has at most {ScenarioLimits.MaxDomains:N0} (Xen's domids end at DOMID_FIRST_RESERVED).");
        }

        var events = new List<ActionSpec>();
        if (top.TryGetValue("events", out var en))
        {
            if (en is not YamlSequenceNode seq)
                b.Error(en, "events", "expected a list of actions.");
            else
                for (int i = 0; i < seq.Children.Count; i++)
                    if (BindEvent(b, seq.Children[i], $"events[{i}]", duration) is { } e) events.Add(e with { Index = i });
        }

        if (host is null || b.Errors.Count > 0) return null;
        var scenario = new Scenario
        {
            Name = name, Source = file, Seed = seed, DurationNs = duration, Host = host, MoreHosts = hosts.Skip(1).ToList(), Domains = domains,
            Events = events.OrderBy(e => e.AtNs).ToList(), TickNs = tick, SampleNs = sample, Costs = costs, Policy = policy, Balance = balance,
        };
        ScenarioChecks.CheckNames(b, root, scenario);
        ScenarioChecks.CheckHosts(b, root, scenario);
        // The checks below look domains up by name: with a name taken twice they would look up the wrong one.
        if (b.Errors.Count > 0) return null;
        ScenarioChecks.CheckEvents(b, root, scenario);
        ScenarioChecks.CheckFit(b, root, scenario);
        ScenarioChecks.CheckMachine(b, root, scenario);
        ScenarioChecks.CheckCpuNodes(b, root, scenario);
        return scenario;
    }

    // host: (one host) or hosts: (a list of named hosts, all of one hypervisor); exactly one of the two.
    private static List<HostSpec> BindHosts(YamlBinder b, YamlNode root, Dictionary<string, YamlNode> top)
    {
        var hosts = new List<HostSpec>();
        bool one = top.TryGetValue("host", out var h), many = top.TryGetValue("hosts", out var hs);
        if (one && many)
            b.Error(hs, "hosts", "give one host as 'host' or several as 'hosts', not both.");
        else if (one)
        {
            if (HostBinder.BindHost(b, h!, "host") is { } single) hosts.Add(single);
        }
        else if (many)
        {
            if (hs is not YamlSequenceNode seq || seq.Children.Count == 0)
                b.Error(hs, "hosts", "expected a list of at least one host, each with a name.");
            else if (seq.Children.Count > ScenarioLimits.MaxHosts)
                b.Error(hs, "hosts", $"the scenario declares {seq.Children.Count} hosts; a scenario has at most {ScenarioLimits.MaxHosts}.");
            else
                for (int i = 0; i < seq.Children.Count; i++)
                    if (HostBinder.BindHost(b, seq.Children[i], $"hosts[{i}]") is { } spec) hosts.Add(spec);
        }
        else b.Error(root, "host", "the required key 'host' is missing (or 'hosts', a list of hosts).");
        return hosts;
    }

    // balance: DRS-style moves between hosts; a scenario of one host has nowhere to move a guest.
    private static BalanceSpec? BindBalance(YamlBinder b, YamlNode node, int hosts)
    {
        var f = b.Fields(node, "balance", BalanceKeys, []);
        var spec = new BalanceSpec();
        if (f.TryGetValue("interval", out var i) && b.Duration(i, "balance.interval") is long interval)
        {
            if (interval < 1_000_000_000L) b.Error(i, "balance.interval", "the balancer looks at most once a second (DRS's default is every 5min).");
            else spec = spec with { IntervalNs = interval };
        }
        if (f.TryGetValue("target_stddev", out var t) && b.Number(t, "balance.target_stddev", 0, 1) is double target) spec = spec with { TargetStdDev = target };
        if (hosts == 1) b.Error(node, "balance", "balance moves guests between hosts, and this scenario has one; give several as 'hosts'.");
        return spec;
    }

    private static ActionSpec? BindEvent(YamlBinder b, YamlNode node, string path, long duration)
    {
        var f = b.Fields(node, path, EventKeys, ["at", "action"]);
        long? at = f.TryGetValue("at", out var a) ? b.Duration(a, $"{path}.at") : null;
        if (at > duration && duration > 0) b.Error(a, $"{path}.at", $"the action is at {(a as YamlScalarNode)?.Value}, after the scenario ends at {duration / 1e9:0.###}s.");
        string? action = f.TryGetValue("action", out var ac) ? b.OneOf(ac, $"{path}.action", Actions) : null;
        string? domain = f.TryGetValue("domain", out var d) ? b.String(d, $"{path}.domain") : null;
        string? to = f.TryGetValue("to", out var tn) ? b.String(tn, $"{path}.to") : null;
        string? hostName = f.TryGetValue("host", out var hn) ? b.String(hn, $"{path}.host") : null;
        // evacuate names a host (every guest on it leaves); every other action names a domain.
        if (action == "evacuate")
        {
            if (d is not null) b.Error(d, $"{path}.domain", "evacuate moves every guest off a host: give the host as 'host', not a domain.");
            else if (hn is null) b.Error(node, $"{path}.host", "evacuate needs 'host', the host every guest leaves.");
            domain = "";
        }
        else
        {
            if (action is not null && d is null) b.Error(node, $"{path}.domain", "the required key 'domain' is missing.");
            if (hn is not null) b.Error(hn, $"{path}.host", $"{action} takes no 'host' (a domain's host is where it runs; migrate takes 'to').");
            if (tn is not null && action is not ("migrate" or "restore")) b.Error(tn, $"{path}.to", $"{action} takes no 'to'; only migrate, restore and evacuate go to another host.");
        }
        // migrate's post-copy, as libvirt's --postcopy --postcopy-after-precopy: after precopy_rounds (default 1) rounds.
        bool postcopy = f.TryGetValue("postcopy", out var pc) && b.Boolean(pc, $"{path}.postcopy") == true;
        if (pc is not null && action is not "migrate") b.Error(pc, $"{path}.postcopy", $"{action} takes no 'postcopy'; only migrate moves a guest before its memory.");
        int? precopyRounds = f.TryGetValue("precopy_rounds", out var pr) ? (int?)b.Integer(pr, $"{path}.precopy_rounds", 0, Memvisor.Hypervisor.Migration.MigrationOptions.DefaultMaxIterations) : null;
        if (pr is not null && !postcopy) b.Error(pr, $"{path}.precopy_rounds", "precopy_rounds says when a post-copy migration switches; give 'postcopy: true' with it.");
        long? memory = f.TryGetValue("memory", out var m) ? b.Size(m, $"{path}.memory") : null;
        if (action is "mem-set" or "mem-max" or "paging-target" or "hot-add" or "hot-remove" && !f.ContainsKey("memory"))
            b.Error(node, $"{path}.memory", $"{action} needs 'memory'.");
        if (action is "create" or "destroy" or "restart" or "save" or "restore" or "migrate" or "evacuate" or "migratepages" && f.ContainsKey("memory"))
            b.Error(m, $"{path}.memory", $"{action} takes no 'memory'.");
        // migratepages (Linux's, on a guest's memory): every page of the domain goes to memory node 'node'.
        int? memNode = f.TryGetValue("node", out var nd) ? (int?)b.Integer(nd, $"{path}.node", 0, 63) : null;
        if (nd is not null && action is not "migratepages") b.Error(nd, $"{path}.node", $"{action} takes no 'node'; only migratepages moves a domain's pages to a memory node.");
        if (action is "migratepages" && nd is null) b.Error(node, $"{path}.node", "migratepages needs 'node', the memory node the domain's pages go to.");
        if (at is null || action is null || domain is null) return null;
        var kind = action switch
        {
            "create" => ActionKind.Create, "destroy" => ActionKind.Destroy, "mem-set" => ActionKind.MemSet,
            "paging-target" => ActionKind.PagingTarget, "hot-add" => ActionKind.HotAdd, "hot-remove" => ActionKind.HotRemove,
            "restart" => ActionKind.Restart, "save" => ActionKind.Save, "restore" => ActionKind.Restore, "migrate" => ActionKind.Migrate,
            "evacuate" => ActionKind.Evacuate, "migratepages" => ActionKind.MigratePages, _ => ActionKind.MemMax,
        };
        return new ActionSpec(at.Value, kind, domain, memory, (int)node.Start.Line)
        {
            To = to, Host = hostName, PostCopyAfterRounds = postcopy ? precopyRounds ?? 1 : null, Node = memNode,
        };
    }

    /// <summary>The xl.cfg a domain instance is built from on a host of <paramref name="host"/>'s hypervisor.</summary>
    public static DomainConfig ToConfig(DomainSpec d, string name, HostPersonality host)
    {
        var allocation = d.AllocationOn(host);
        // A PoD guest without a balloon driver cannot give back what lies above memory: it sees all of maxmem.
        bool seesMaxmem = allocation == AllocationMode.OnDemand && host.OnDemand == OnDemandModel.PodCache && !d.Guest.Balloon.Enabled;
        return new()
        {
            Name = name,
            MemoryPages = PageSize.FromBytes(d.MemoryBytes),
            MaxPages = PageSize.FromBytes(d.MaxMemBytes),
            Allocation = allocation,
            Vcpus = d.Vcpus,
            PreferredNode = d.CpuNode,
            Vnodes = d.Vnuma,
            Sharing = d.SharingOn(host),
            Mmu = d.Mmu,
            PhysmapPages = seesMaxmem ? PageSize.FromBytes(d.MaxMemBytes) : null,
            // ESX's per-VM swap file (.vswp) holds the VM's configured memory (maxmem here) less its reservation (vSphere Resource Management, "Swap Space and Memory Overcommitment").
            SwapLimitPages = host.Kind == HypervisorKind.Esx ? Math.Max(0, PageSize.FromBytes(d.MaxMemBytes) - PageSize.FromBytes(d.ReservationBytes ?? 0)) : null,
        };
    }
}
