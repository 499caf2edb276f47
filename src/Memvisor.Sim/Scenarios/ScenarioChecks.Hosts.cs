using Memvisor.Hypervisor.Personalities;
using YamlDotNet.RepresentationModel;

namespace Memvisor.Sim.Scenarios;

// Checks of a scenario with several hosts: their names, one hypervisor for all, where domains start and where
// migrate and evacuate send them.
public static partial class ScenarioChecks
{
    internal static void CheckHosts(YamlBinder b, YamlNode root, Scenario s)
    {
        var hosts = s.Hosts;
        var names = new HashSet<string>(StringComparer.Ordinal);
        var swapFiles = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < hosts.Count; i++)
        {
            var h = hosts[i];
            if (!names.Add(h.Name))
                b.Error(HostField(root, i, "name"), $"hosts[{i}].name", $"the host name '{h.Name}' is already taken by another host; every host needs its own name.");
            // A live migration moves a running guest between hosts of one hypervisor: Xen's stream is not KVM's.
            if (i > 0 && h.Personality.Kind != hosts[0].Personality.Kind)
                b.Error(HostField(root, i, "hypervisor"), $"hosts[{i}].hypervisor",
                    $"every host of a scenario runs one hypervisor, so that its guests can migrate between them: the first host is {hosts[0].Personality.DisplayName}, this one {h.Personality.DisplayName}.");
            if (h.Overcommit.Paging.SwapFile is { } swap && !swapFiles.TryAdd(swap, h.Name))
                b.Error(HostField(root, i, "paging"), $"hosts[{i}].paging.swap_file", $"host '{swapFiles[swap]}' pages to {h.Overcommit.Paging.SwapFileName} already; every host needs its own swap file.");
        }
        var domainNodes = DomainNodes(root);
        for (int i = 0; i < s.Domains.Count; i++)
            if (s.Domains[i].Host is { } name && s.HostIndex(name) < 0)
                b.Error(Field(domainNodes.ElementAtOrDefault(i), "host"), $"domains[{i}].host", $"'{name}' is not a host of this scenario ({HostList(s)}).");
        CheckMoves(b, root, s);
    }

    // migrate's and restore's to, and evacuate's host and to, name hosts of the scenario; evacuate needs somewhere to go.
    private static void CheckMoves(YamlBinder b, YamlNode root, Scenario s)
    {
        var eventNodes = TopNode(root, "events") as YamlSequenceNode;
        foreach (var e in s.Events.Where(e => e.Action is ActionKind.Migrate or ActionKind.Restore or ActionKind.Evacuate))
        {
            var node = eventNodes?.Children.ElementAtOrDefault(e.Index);
            string at = $"events[{e.Index}]";
            if (e.To is { } to && s.HostIndex(to) < 0)
                b.Error(Field(node, "to"), $"{at}.to", $"'{to}' is not a host of this scenario ({HostList(s)}).");
            else if (e.To is { } dest && e.Action != ActionKind.Evacuate && s.Instances().FirstOrDefault(x => x.Name == e.Domain).Spec is { } spec
                && MoveProblem(spec, s.Hosts[Math.Max(0, s.HostIndex(spec.Host))], s.Hosts[s.HostIndex(dest)]) is { } why)
                b.Error(Field(node, "to"), $"{at}.to", $"{ActionSpec.NameOf(e.Action)} sends '{e.Domain}' to '{dest}', {why}.");
            if (e.Action != ActionKind.Evacuate) continue;
            if (s.HostIndex(e.Host) < 0)
                b.Error(Field(node, "host"), $"{at}.host", $"'{e.Host}' is not a host of this scenario ({HostList(s)}).");
            else if (e.To == e.Host)
                b.Error(Field(node, "to"), $"{at}.to", $"evacuate moves the guests off '{e.Host}'; 'to' names another host.");
            else if (s.MoreHosts.Count == 0)
                b.Error(Field(node, "host"), $"{at}.host", "evacuate moves the guests to another host, and this scenario has one; give several as 'hosts'.");
        }
    }

    private static string HostList(Scenario s) => "hosts: " + string.Join(", ", s.Hosts.Select(h => h.Name));

    private static YamlNode? TopNode(YamlNode root, string key) =>
        (root as YamlMappingNode)?.Children.FirstOrDefault(c => (c.Key as YamlScalarNode)?.Value == key).Value;

    // host: itself, or the i-th entry of hosts:.
    private static YamlNode? HostNode(YamlNode root, int index) =>
        TopNode(root, "host") ?? (TopNode(root, "hosts") as YamlSequenceNode)?.Children.ElementAtOrDefault(index);

    private static YamlNode? HostField(YamlNode root, int index, string key) => Field(HostNode(root, index), key);

    private static YamlNode? DomainField(YamlNode root, int index, string key) =>
        Field((TopNode(root, "domains") as YamlSequenceNode)?.Children.ElementAtOrDefault(index), key);

    // A mapping's value at key, or the mapping itself when the key is absent.
    private static YamlNode? Field(YamlNode? node, string key) =>
        (node as YamlMappingNode)?.Children.FirstOrDefault(c => (c.Key as YamlScalarNode)?.Value == key).Value ?? node;
}
