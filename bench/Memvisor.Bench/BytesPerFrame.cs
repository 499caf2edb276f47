using Memvisor.Hypervisor.Domains;
using Memvisor.Machine;
using Memvisor.Machine.Frames;
using Memvisor.Machine.Time;
using Memvisor.Hypervisor;
using Memvisor.Seam;

namespace Memvisor.Bench;

/// <summary>
/// Bytes of bookkeeping per machine frame on a 64 GiB host whose memory is populated by domains: measured from the
/// managed heap (GC.GetTotalMemory after a full collection) and counted structure by structure. DESIGN.md budget: at most 48, aim 40.
/// </summary>
public static class BytesPerFrame
{
    public static int Run(long hostGiB = 64)
    {
        long before = GC.GetTotalMemory(forceFullCollection: true);
        var machine = new MachineMemory(PageSize.FromBytes(hostGiB << 30), 2);
        var hv = new Host(machine, new CostModel(), () => 0);
        hv.CreateDomain(new DomainConfig { Name = "Domain-0", MemoryPages = PageSize.FromBytes(2L << 30), MaxPages = PageSize.FromBytes(2L << 30), IsDom0 = true }, out _);
        int n = 0;
        while (true)
        {
            long pages = Math.Min(PageSize.FromBytes(2L << 30), machine.FreeFrames - Host.ReservePagesFor(new DomainConfig { Name = "x", MemoryPages = 0, MaxPages = PageSize.FromBytes(2L << 30) }));
            if (pages < 1024) break;
            if (hv.CreateDomain(new DomainConfig { Name = $"vm-{++n}", MemoryPages = pages, MaxPages = PageSize.FromBytes(2L << 30) }, out _) != Memvisor.Seam.XenErrno.Ok) break;
        }
        long after = GC.GetTotalMemory(forceFullCollection: true);
        long frames = machine.TotalFrames;
        long p2m = hv.Domains.Sum(d => d.P2m.SizeInBytes);
        long counted = machine.Frames.SizeInBytes + machine.Nodes.Sum(x => x.LinkBytes) + hv.M2p.SizeInBytes + p2m;
        var acc = hv.Account();
        Console.WriteLine($"host: {hostGiB} GiB, {frames} frames, {hv.Domains.Count} domains, owned {acc.OwnedFrames} frames ({100.0 * acc.OwnedFrames / frames:0.0}%), free {acc.FreeFrames}");
        Console.WriteLine($"frame table {machine.Frames.SizeInBytes / (double)frames:0.00} B/frame, heap links {machine.Nodes.Sum(x => x.LinkBytes) / (double)frames:0.00}, m2p {hv.M2p.SizeInBytes / (double)frames:0.00}, p2m {p2m / (double)frames:0.00}");
        Console.WriteLine($"counted structures: {counted / (double)frames:0.00} bytes per frame");
        Console.WriteLine($"managed heap growth: {(after - before) / (double)frames:0.00} bytes per frame");
        GC.KeepAlive(hv);
        return (after - before) / (double)frames <= 48 ? 0 : 1;
    }
}
