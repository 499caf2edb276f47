using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Mmu;
using Memvisor.Hypervisor.Personalities;
using Memvisor.Hypervisor.Errors;
using Memvisor.Machine;
using Memvisor.Machine.Time;
using Memvisor.Hypervisor;
using Memvisor.Seam;

namespace Memvisor.Tests.Support;

/// <summary>A small host for tests: a few thousand frames, a hypervisor on a fixed clock.</summary>
internal static class TestHost
{
    public static Host Create(long frames = 16384, int nodes = 2, HostPersonality? personality = null) =>
        new(new MachineMemory(frames, nodes), new CostModel(), () => 0, new OvercommitOptions { Personality = personality ?? HostPersonality.Xen });

    /// <summary>A tiered host: one node per (kind, frames), with the kinds' default costs.</summary>
    public static Host CreateTiered(IReadOnlyList<(Memvisor.Machine.Tiers.MemoryKind Kind, long Frames)> nodes, HostPersonality? personality = null,
        Memvisor.Hypervisor.Tiers.TieringOptions? tiering = null) =>
        new(new MachineMemory([.. nodes.Select(n => new Memvisor.Machine.Tiers.MemoryNodeSpec(n.Kind, n.Frames, Memvisor.Machine.Tiers.TierDefaults.For(n.Kind)))], new CostModel().NumaRemoteNs),
            new CostModel(), () => 0, new OvercommitOptions { Personality = personality ?? HostPersonality.Xen, Tiering = tiering ?? new() });

    public static Domain Domain(Host hv, string name, long memory, long maxmem, AllocationMode mode = AllocationMode.Static, MmuMode mmu = MmuMode.Hap)
    {
        var config = new DomainConfig { Name = name, MemoryPages = memory, MaxPages = maxmem, Allocation = mode, Mmu = new MmuOptions { Mode = mmu } };
        var errno = hv.CreateDomain(config, out var d);
        Assert.Equal(XenErrno.Ok, errno);
        return d!;
    }

    /// <summary>A fingerprint of everything a refused request must leave alone.</summary>
    public static string Fingerprint(Host hv)
    {
        var parts = new List<string> { $"free={hv.Machine.FreeFrames}", $"pending={hv.Machine.Scrubber.PendingFrames}" };
        foreach (var d in hv.Domains)
        {
            var entries = new System.Text.StringBuilder();
            d.P2m.ForEachPresent((gfn, e) => entries.Append(gfn).Append(':').Append(e.Raw).Append(';'));
            parts.Add($"{d.DomId}:{d.TotPages}/{d.MaxPages}/{d.ReservePages}/{entries}");
        }
        return string.Join('|', parts);
    }
}
