using System.Runtime.InteropServices;
using Memvisor.Daemon.Vms;

namespace Memvisor.Daemon.Libvirt;

/// <summary>A connection to libvirt (qemu:///system, for hosts whose QEMUs libvirtd owns): its running domains as <see cref="IVm"/>s.</summary>
public sealed class LibvirtConnection : IDisposable
{
    private nint _conn;

    public string Uri { get; }

    private LibvirtConnection(string uri, nint conn)
    {
        Uri = uri;
        _conn = conn;
    }

    /// <summary>Connects; a <see cref="VmUnreachableException"/> saying why where libvirt is missing or refuses.</summary>
    public static LibvirtConnection Open(string uri)
    {
        nint conn;
        try
        {
            conn = LibvirtApi.ConnectOpen(uri);
        }
        catch (DllNotFoundException)
        {
            throw new VmUnreachableException($"libvirt ({uri}) cannot be used: libvirt.so.0 is not installed (Debian: apt-get install libvirt0).");
        }
        if (conn == 0) throw new VmUnreachableException($"libvirt ({uri}) refused the connection: {LibvirtApi.LastError()}.");
        return new LibvirtConnection(uri, conn);
    }

    private readonly Lock _gate = new();
    private bool _disposed;

    /// <summary>The connection, opened again when libvirtd went away (restarted); a <see cref="VmUnreachableException"/> while it cannot be.</summary>
    internal nint Handle
    {
        get
        {
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                if (_conn != 0 && LibvirtApi.ConnectIsAlive(_conn) == 1) return _conn;
                if (_conn != 0) LibvirtApi.ConnectClose(_conn);
                _conn = LibvirtApi.ConnectOpen(Uri);
                return _conn != 0 ? _conn : throw new VmUnreachableException($"libvirt ({Uri}) does not answer: {LibvirtApi.LastError()}.");
            }
        }
    }

    /// <summary>The names of the running domains, in libvirt's order.</summary>
    public IReadOnlyList<string> RunningDomains()
    {
        int n = LibvirtApi.ConnectListAllDomains(Handle, out nint array, LibvirtApi.ListDomainsActive);
        if (n < 0) throw new VmUnreachableException($"libvirt ({Uri}) could not list its domains: {LibvirtApi.LastError()}.");
        var names = new List<string>(n);
        try
        {
            for (int i = 0; i < n; i++)
            {
                nint domain = Marshal.ReadIntPtr(array, i * IntPtr.Size);
                names.Add(Marshal.PtrToStringUTF8(LibvirtApi.DomainGetName(domain)) ?? "");
                LibvirtApi.DomainFree(domain);
            }
        }
        finally
        {
            if (array != 0) LibvirtApi.Free(array);
        }
        return names;
    }

    /// <summary>One domain, by name, as a VM the daemon drives (statistics polled every <paramref name="statsPeriodSeconds"/>, unless <paramref name="setStatsPeriod"/> is false: a dry run changes nothing).</summary>
    public IVm Domain(string name, int statsPeriodSeconds, bool setStatsPeriod = true) => new LibvirtVm(this, name, statsPeriodSeconds, setStatsPeriod);

    public void Dispose()
    {
        lock (_gate)
        {
            if (_conn != 0) LibvirtApi.ConnectClose(_conn);
            _conn = 0;
            _disposed = true;
        }
    }
}
