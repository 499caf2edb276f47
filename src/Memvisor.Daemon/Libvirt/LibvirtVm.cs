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
    private uint _periodSetFor;
    // The statistics period as the daemon found it (<memballoon><stats period='N'/>), put back when it lets the domain go.
    private int? _periodBefore;

    public string Name => name;
    public string Address => $"{connection.Uri} domain {name}";

    public unsafe VmReading Read() => WithDomain(domain =>
    {
        // Set again for each run of the domain (a new id): a restarted domain polls at its own period.
        uint id = LibvirtApi.DomainGetID(domain);
        if (_periodSetFor != id && statsPeriodSeconds > 0 && setStatsPeriod)
        {
            int before = StatsPeriod(domain);
            if (before != statsPeriodSeconds)
            {
                if (_periodSetFor == 0) _periodBefore = before;
                if (LibvirtApi.DomainSetMemoryStatsPeriod(domain, statsPeriodSeconds, LibvirtApi.AffectLive) != 0) throw Failed("refused the statistics period");
            }
            _periodSetFor = id;
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
            Incarnation = $"id {id}",
            HasBalloon = byTag.ContainsKey(LibvirtApi.ActualBalloon),
            ActualBytes = actual,
            BaseBytes = (long)info.MaxMemKiB * 1024,
            Stats = stats,
            // Statistics without the guest's available memory (libvirt's usable) give it no floor: they count as none.
            StatsSeen = byTag.TryGetValue(LibvirtApi.LastUpdate, out ulong last) && last > 0 && byTag.ContainsKey(LibvirtApi.Usable),
            StatsUpdatedUnix = (long)last,
            BalloonInTotal = DeflatesOnOom(domain),
            ProcessRssBytes = KiB(LibvirtApi.Rss) is >= 0 and var rss ? rss : null,
        };
    });

    public void SetBalloonTarget(long bytes) => WithDomain(domain =>
        LibvirtApi.DomainSetMemoryFlags(domain, (nuint)(bytes / 1024), LibvirtApi.AffectLive) == 0 ? 0 : throw Failed("refused the memory size"));

    public void SetVirtioMemRequested(long bytes) =>
        throw new VmUnreachableException($"{Address}: virtio-mem is not driven through libvirt by Memvisor; give the VM's QMP socket instead.");

    // <memballoon model='virtio' autodeflate='on'> in the live XML (libvirt's name for QEMU's deflate-on-oom).
    private static bool DeflatesOnOom(nint domain) =>
        Memballoon(domain) is { } m && m.Contains("autodeflate='on'", StringComparison.Ordinal);

    // <stats period='N'/> inside <memballoon>, or 0.
    private static int StatsPeriod(nint domain)
    {
        if (Memballoon(domain) is not { } m) return 0;
        int at = m.IndexOf("period='", StringComparison.Ordinal);
        if (at < 0) return 0;
        int start = at + "period='".Length, end = m.IndexOf('\'', start);
        return end > start && int.TryParse(m.AsSpan(start, end - start), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int p) ? p : 0;
    }

    // The live XML's <memballoon ...> element, up to its end tag (or its own end), or null.
    private static string? Memballoon(nint domain)
    {
        nint xml = LibvirtApi.DomainGetXMLDesc(domain, 0);
        if (xml == 0) return null;
        try
        {
            string text = Marshal.PtrToStringUTF8(xml) ?? "";
            int at = text.IndexOf("<memballoon", StringComparison.Ordinal);
            if (at < 0) return null;
            int close = text.IndexOf("</memballoon>", at, StringComparison.Ordinal), self = text.IndexOf("/>", at, StringComparison.Ordinal);
            int end = close >= 0 ? close : self >= 0 ? self : text.Length;
            return text[at..end];
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
        if (_periodBefore is not { } before) return;
        try
        {
            WithDomain(domain => LibvirtApi.DomainSetMemoryStatsPeriod(domain, before, LibvirtApi.AffectLive));
        }
        catch (Exception e) when (e is VmUnreachableException or ObjectDisposedException)
        {
            // The domain or libvirtd went away; there is nothing to put back.
        }
    }
}
