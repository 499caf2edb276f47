using System.Runtime.InteropServices;
using Memvisor.Daemon.Vms;

namespace Memvisor.Daemon.Libvirt;

/// <summary>
/// A domain libvirt owns: its balloon (virDomainGetInfo's memory and maxMem, virDomainSetMemoryFlags on the live
/// domain) and its guest's statistics (virDomainMemoryStats, polled at virDomainSetMemoryStatsPeriod). libvirt's
/// names differ from QEMU's: its "available" is the guest's MemTotal (QEMU's stat-total-memory), "usable" its
/// MemAvailable and "unused" its MemFree; memory is in KiB. virtio-mem is not driven through libvirt here.
/// </summary>
internal sealed class LibvirtVm(LibvirtConnection connection, string name, int statsPeriodSeconds, bool setStatsPeriod) : IVm
{
    private bool _periodSet;

    public string Name => name;
    public string Address => $"{connection.Uri} domain {name}";

    public unsafe VmReading Read() => WithDomain(domain =>
    {
        if (!_periodSet && statsPeriodSeconds > 0 && setStatsPeriod)
        {
            LibvirtApi.DomainSetMemoryStatsPeriod(domain, statsPeriodSeconds, LibvirtApi.AffectLive);
            _periodSet = true;
        }
        if (LibvirtApi.DomainGetInfo(domain, out var info) != 0) throw Failed("could not be read");
        var raw = stackalloc LibvirtApi.MemoryStat[LibvirtApi.StatCount];
        int n = LibvirtApi.DomainMemoryStats(domain, raw, LibvirtApi.StatCount, 0);
        var byTag = new Dictionary<int, ulong>();
        for (int i = 0; i < n; i++) byTag[raw[i].Tag] = raw[i].Value;
        long KiB(int tag) => byTag.TryGetValue(tag, out ulong v) ? (long)v * 1024 : -1;
        var stats = new Dictionary<string, long>();
        void Put(string key, long value)
        {
            if (value >= 0) stats[key] = value;
        }
        Put("stat-total-memory", KiB(LibvirtApi.Available));
        Put("stat-available-memory", KiB(LibvirtApi.Usable));
        Put("stat-free-memory", KiB(LibvirtApi.Unused));
        Put("stat-swap-in", KiB(LibvirtApi.SwapIn));
        Put("stat-swap-out", KiB(LibvirtApi.SwapOut));
        if (byTag.TryGetValue(LibvirtApi.MajorFault, out ulong major)) stats["stat-major-faults"] = (long)major;
        long actual = byTag.TryGetValue(LibvirtApi.ActualBalloon, out ulong a) ? (long)a * 1024 : (long)info.MemoryKiB * 1024;
        return new VmReading
        {
            Name = name,
            // libvirt gives a domain a new id each time it starts.
            Incarnation = $"id {LibvirtApi.DomainGetID(domain)}",
            HasBalloon = byTag.ContainsKey(LibvirtApi.ActualBalloon),
            ActualBytes = actual,
            BaseBytes = (long)info.MaxMemKiB * 1024,
            Stats = stats,
            StatsSeen = byTag.TryGetValue(LibvirtApi.LastUpdate, out ulong last) && last > 0,
            StatsUpdatedUnix = (long)last,
            BalloonInTotal = DeflatesOnOom(domain),
            ProcessRssBytes = KiB(LibvirtApi.Rss) is >= 0 and var rss ? rss : null,
        };
    });

    public void SetBalloonTarget(long bytes) => WithDomain(domain =>
        LibvirtApi.DomainSetMemoryFlags(domain, (nuint)(bytes / 1024), LibvirtApi.AffectLive) == 0 ? 0 : throw Failed("refused the memory size"));

    public void SetVirtioMemRequested(long bytes) =>
        throw new VmUnreachableException($"{Address}: virtio-mem is not driven through libvirt by Memvisor; give the VM's QMP socket instead.");

    // <memballoon model='virtio' deflate='on'> in the live XML.
    private static bool DeflatesOnOom(nint domain)
    {
        nint xml = LibvirtApi.DomainGetXMLDesc(domain, 0);
        if (xml == 0) return false;
        try
        {
            string text = Marshal.PtrToStringUTF8(xml) ?? "";
            int at = text.IndexOf("<memballoon", StringComparison.Ordinal);
            int end = at < 0 ? -1 : text.IndexOf('>', at);
            return end > at && text[at..end].Contains("deflate='on'", StringComparison.Ordinal);
        }
        finally
        {
            LibvirtApi.Free(xml);
        }
    }

    private T WithDomain<T>(Func<nint, T> body)
    {
        nint domain = LibvirtApi.DomainLookupByName(connection.Handle, name);
        if (domain == 0) throw Failed("is not there");
        try
        {
            return body(domain);
        }
        finally
        {
            LibvirtApi.DomainFree(domain);
        }
    }

    private VmUnreachableException Failed(string what) => new($"{Address} {what}: {LibvirtApi.LastError()}.");

    public void Dispose()
    {
    }
}
