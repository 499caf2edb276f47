using Memvisor.Daemon.Host;
using Memvisor.Daemon.Vms;
using Memvisor.Policy.Snapshot;

namespace Memvisor.Daemon.Control;

/// <summary>
/// Builds the same <see cref="HostSnapshot"/> the simulator gives a policy from a real host's readings, in 4 KiB pages:
/// the host's memory (or a budget), KSM's rate, and per VM its balloon, its guest's statistics, its virtio-mem device
/// and the floor the safety rules keep it above. docs/daemon.md lists each field's source.
/// </summary>
public static class SnapshotBuilder
{
    public const long PageBytes = 4096;

    /// <summary>The guest's own floor: what it holds less what it reports available (its kernel and what it uses), plus the headroom; 0 before it has sent statistics.</summary>
    public static long OwnFloorBytes(VmReading r, DaemonOptions options) =>
        r.StatsSeen && r.Stats.ContainsKey("stat-available-memory")
            ? Math.Max(0, r.ActualBytes - r.Stat("stat-available-memory")) + options.HeadroomBytes
            : 0;

    /// <summary>The floor in force: the larger of the configured and the guest's own, never above what the VM can hold.</summary>
    public static long FloorBytes(VmReading r, DaemonOptions options) =>
        Math.Min(r.MaxBytes, Math.Max(options.FloorBytes, OwnFloorBytes(r, options)));

    public static HostSnapshot Build(IReadOnlyList<VmState> vms, MemInfo? host, KsmReading? ksm, DaemonOptions options, long timeNs)
    {
        var domains = new List<DomainSnapshot>();
        long held = 0;
        for (int i = 0; i < vms.Count; i++)
        {
            var state = vms[i];
            if (state.Last is not { } r) continue;
            held += r.ActualBytes;
            domains.Add(Domain(i + 1, state, r));
        }
        long total, free;
        if (options.HostMemoryBytes is { } budget)
        {
            total = budget;
            // A budget below what the VMs hold reads as no free memory (a snapshot's free pages are never negative).
            free = Math.Max(0, budget - held);
        }
        else
        {
            total = host?.TotalBytes ?? 0;
            free = host?.AvailableBytes ?? 0;
        }
        return new HostSnapshot
        {
            TimeNs = timeNs,
            TotalPages = total / PageBytes,
            FreePages = Math.Min(free, total) / PageBytes,
            SharingScanRate = options.ControlKsm ? ksm?.PagesPerSecond ?? 0 : 0,
            Domains = domains,
        };
    }

    private static DomainSnapshot Domain(int domId, VmState state, VmReading r)
    {
        long Pages(long bytes) => bytes / PageBytes;
        long actual = Pages(r.ActualBytes), max = Pages(r.MaxBytes), floor = Pages(state.FloorBytes);
        long available = Pages(r.Stat("stat-available-memory"));
        return new DomainSnapshot
        {
            Name = state.Name,
            DomId = domId,
            TotPages = actual,
            CurrentPages = actual,
            TargetPages = state.TargetBytes is { } t ? Pages(t) : actual,
            StaticMaxPages = max,
            MemoryPages = Pages(r.BaseBytes),
            // squeezed's range: from the floor to all the VM can hold.
            DynamicMinPages = floor,
            DynamicMaxPages = max,
            FeatureBalloon = r.HasBalloon,
            Uncooperative = state.Stuck || state.Unresponsive,
            MemFreePages = Pages(r.Stat("stat-free-memory")),
            MemAvailablePages = available,
            // What the guest's kernel uses of the memory it manages, the nearest its statistics come to Committed_AS.
            CommittedAsPages = Pages(r.UsedBytes ?? 0),
            MajorFaults = r.Stat("stat-major-faults"),
            SwapIns = Pages(r.Stat("stat-swap-in")),
            // Memory the guest's kernel does not manage (its image, reserved ranges): the balloon cannot take it.
            FloorPages = Pages(r.KernelBytes ?? 0),
            ActivePages = r.StatsSeen ? Math.Max(0, actual - available) : actual,
            HotplugEnabled = r.VirtioMem is not null,
            HotplugRequestedPages = r.VirtioMem is { } m ? Pages(m.RequestedBytes) : 0,
            Shares = Pages(r.BaseBytes) / 256 * 10,
            ReservationPages = floor,
            LimitPages = max,
            MinimumPages = floor,
            MaximumPages = max,
        };
    }
}
