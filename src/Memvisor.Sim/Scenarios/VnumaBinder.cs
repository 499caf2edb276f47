using Memvisor.Hypervisor.Domains;
using Memvisor.Machine.Frames;
using YamlDotNet.RepresentationModel;

namespace Memvisor.Sim.Scenarios;

/// <summary>
/// A domain's <c>vnuma:</c>, as xl.cfg's vnuma: its physical memory as virtual NUMA nodes, each { pnode: N, memory:
/// SIZE } in gfn order, the first holding the vCPUs. A node of a memory-only pnode (CXL, NVM) is Pond's zNUMA: the
/// guest sees a node without CPUs and allocates from it only when its first node is full.
/// </summary>
internal static class VnumaBinder
{
    private static readonly string[] Keys = ["pnode", "memory"];

    public static IReadOnlyList<Vnode>? Bind(YamlBinder b, YamlNode node, string path, long? maxmem)
    {
        if (node is not YamlSequenceNode list || list.Children.Count is 0 or > 64)
        {
            b.Error(node, path, "vnuma is a list of 1 to 64 virtual NUMA nodes, each { pnode: N, memory: SIZE }, the first with the vCPUs.");
            return null;
        }
        var vnodes = new List<Vnode>();
        bool ok = true;
        for (int i = 0; i < list.Children.Count; i++)
        {
            string at = $"{path}[{i}]";
            var f = b.Fields(list.Children[i], at, Keys, Keys);
            long? pnode = f.TryGetValue("pnode", out var p) ? b.Integer(p, $"{at}.pnode", 0, 63) : null;
            long? bytes = f.TryGetValue("memory", out var m) ? b.Size(m, $"{at}.memory") : null;
            // xl.cfg gives a vnode's size in MiB; a whole MiB is also a whole number of the guest allocator's 64-page words.
            if (bytes is long size && (size < 1 << 20 || size % (1 << 20) != 0))
            {
                b.Error(m!, $"{at}.memory", $"a virtual NUMA node is a whole number of MiB, at least 1MiB, not {Units.FormatSize(size)}.");
                bytes = null;
            }
            if (pnode is null || bytes is null)
            {
                ok = false;
                continue;
            }
            vnodes.Add(new Vnode((int)pnode.Value, PageSize.FromBytes(bytes.Value)));
        }
        if (!ok) return null;
        long sum = vnodes.Sum(v => v.Pages) * PageSize.Bytes;
        // xl: "The sum of all vnode sizes must match maxmem."
        if (maxmem is long max && sum != max)
        {
            b.Error(node, path, $"the virtual NUMA nodes add up to {Units.FormatSize(sum)}, not the domain's maxmem ({Units.FormatSize(max)}); as in xl.cfg, they must match it.");
            return null;
        }
        return vnodes;
    }
}
