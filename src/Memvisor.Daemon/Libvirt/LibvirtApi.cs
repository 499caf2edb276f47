using System.Runtime.InteropServices;

namespace Memvisor.Daemon.Libvirt;

/// <summary>
/// The few calls of libvirt's C API (libvirt.so.0; include/libvirt/libvirt-domain.h and libvirt-host.h) the daemon
/// needs: connect, list the running domains, read a domain's info and balloon statistics, set its memory and its
/// statistics period, and the last error's message.
/// </summary>
internal static partial class LibvirtApi
{
    private const string Library = "libvirt.so.0";

    public const uint ListDomainsActive = 1;        // VIR_CONNECT_LIST_DOMAINS_ACTIVE
    public const uint AffectLive = 1;               // VIR_DOMAIN_AFFECT_LIVE
    public const int StatCount = 16;                // more than VIR_DOMAIN_MEMORY_STAT_NR in any release so far

    // virDomainMemoryStatTags
    public const int SwapIn = 0, SwapOut = 1, MajorFault = 2, MinorFault = 3, Unused = 4, Available = 5, ActualBalloon = 6, Rss = 7, Usable = 8, LastUpdate = 9;

    [StructLayout(LayoutKind.Sequential)]
    public struct MemoryStat
    {
        public int Tag;
        public ulong Value;
    }

    // struct _virDomainInfo { unsigned char state; unsigned long maxMem; unsigned long memory; unsigned short nrVirtCpu; unsigned long long cpuTime; }
    [StructLayout(LayoutKind.Sequential)]
    public struct DomainInfo
    {
        public byte State;
        public nuint MaxMemKiB;
        public nuint MemoryKiB;
        public ushort VirtCpus;
        public ulong CpuTimeNs;
    }

    [LibraryImport(Library, EntryPoint = "virConnectOpen", StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint ConnectOpen(string uri);

    [LibraryImport(Library, EntryPoint = "virConnectClose")]
    public static partial int ConnectClose(nint conn);

    [LibraryImport(Library, EntryPoint = "virConnectIsAlive")]
    public static partial int ConnectIsAlive(nint conn);

    [LibraryImport(Library, EntryPoint = "virConnectListAllDomains")]
    public static partial int ConnectListAllDomains(nint conn, out nint domains, uint flags);

    [LibraryImport(Library, EntryPoint = "virDomainLookupByName", StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint DomainLookupByName(nint conn, string name);

    [LibraryImport(Library, EntryPoint = "virDomainGetName")]
    public static partial nint DomainGetName(nint domain);

    [LibraryImport(Library, EntryPoint = "virDomainGetID")]
    public static partial uint DomainGetID(nint domain);

    [LibraryImport(Library, EntryPoint = "virDomainGetInfo")]
    public static partial int DomainGetInfo(nint domain, out DomainInfo info);

    [LibraryImport(Library, EntryPoint = "virDomainMemoryStats")]
    public static unsafe partial int DomainMemoryStats(nint domain, MemoryStat* stats, uint count, uint flags);

    [LibraryImport(Library, EntryPoint = "virDomainSetMemoryFlags")]
    public static partial int DomainSetMemoryFlags(nint domain, nuint memoryKiB, uint flags);

    [LibraryImport(Library, EntryPoint = "virDomainSetMemoryStatsPeriod")]
    public static partial int DomainSetMemoryStatsPeriod(nint domain, int seconds, uint flags);

    [LibraryImport(Library, EntryPoint = "virDomainGetXMLDesc")]
    public static partial nint DomainGetXMLDesc(nint domain, uint flags);

    [LibraryImport(Library, EntryPoint = "virDomainFree")]
    public static partial int DomainFree(nint domain);

    [LibraryImport(Library, EntryPoint = "virGetLastErrorMessage")]
    public static partial nint GetLastErrorMessage();

    // Arrays and strings libvirt hands over are the caller's to free(3).
    [LibraryImport("libc", EntryPoint = "free")]
    public static partial void Free(nint pointer);

    public static string LastError() => Marshal.PtrToStringUTF8(GetLastErrorMessage()) ?? "no error message";
}
