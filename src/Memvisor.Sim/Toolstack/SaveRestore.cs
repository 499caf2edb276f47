using Memvisor.Hypervisor;
using Memvisor.Hypervisor.Errors;
using Memvisor.Machine.Frames;
using Memvisor.Seam;
using Memvisor.Sim.Engine;

namespace Memvisor.Sim.Toolstack;

// xl save and xl restore as timeline actions (tools/xl/xl_saverestore.c): the image goes to a file of the run's own,
// which the run removes when it ends.
public sealed partial class XlToolstack
{
    private SaveDirectory? _saveDirectory;

    /// <summary>
    /// xl save: the domain's memory and p2m go to an image file, and the domain is destroyed; its guest waits, paused,
    /// for the restore. False (the domain keeps running) if it is not running or the hypervisor refused the save.
    /// </summary>
    public bool Save(DomainRecord r, long nowNs)
    {
        if (r.Domain is not { } d || r.State != DomainState.Running)
        {
            Hv.Refusals.Record(r.Domain?.DomId ?? DomIds.Invalid, r.Name, "save", XenErrno.ESRCH, RefusalCause.NotRunning, 0, 0);
            return false;
        }
        var tally = r.SaveRestore ??= new SaveRestoreTally();
        (long tot, long max, long target) = (d.TotPages, d.MaxPages, d.TargetPages);
        XenErrno errno;
        Hypervisor.Save.SavedDomain? saved = null;
        Hypervisor.Save.SaveStats stats = default;
        string? file = null;
        try
        {
            file = ImagePath(r);
            using var stream = new FileStream(file, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
            errno = Hv.SaveDomain(d.DomId, stream, out saved, out stats);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Closing the file after a save that completed (the image was flushed first) does not undo the save.
            errno = saved is null ? ImageFailed(r, d.DomId, "save", e) : XenErrno.Ok;
        }
        if (errno != XenErrno.Ok || saved is null)
        {
            // A refused save leaves an incomplete image: it is not kept.
            TryDelete(file);
            tally.Refused++;
            return false;
        }
        (r.FinalTotPages, r.FinalMaxPages, r.FinalTargetPages) = (tot, max, target);
        r.Saved = saved;
        r.State = DomainState.Saved;
        // The domain and its pages' mappings are gone: the backends forget the frontend until it resumes.
        ForgetDevices(d.DomId);
        tally.Saves++;
        tally.LastImage = stats;
        tally.ImageBytes += stats.FileBytes;
        tally.SaveNs += ImageNs(stats.FileBytes);
        tally.SavedAtNs = nowNs;
        return true;
    }

    /// <summary>
    /// xl restore: a new domain is built on this host from the instance's image, which <paramref name="savedBy"/>'s
    /// host wrote (this one when null: an image file copied to another host restores there too), and its guest
    /// resumes in it, with the display backend connected again (the hypervisor carries the paging target in effect).
    /// False (it stays saved) if the image cannot be read or the host cannot hold it now.
    /// </summary>
    public bool Restore(DomainRecord r, long nowNs, XlToolstack? savedBy = null)
    {
        var source = savedBy ?? this;
        if (r.Saved is not { } saved || r.State != DomainState.Saved)
        {
            Hv.Refusals.Record(DomIds.Invalid, r.Name, "restore", XenErrno.ESRCH, RefusalCause.NotSaved, 0, 0);
            return false;
        }
        var tally = r.SaveRestore!;
        XenErrno errno;
        Hypervisor.Domains.Domain? domain = null;
        Hypervisor.Save.SaveStats stats = default;
        try
        {
            using var stream = new FileStream(source.ImagePath(r), FileMode.Open, FileAccess.Read, FileShare.Read);
            errno = Hv.RestoreDomain(saved, stream, out domain, out stats);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            errno = domain is null ? ImageFailed(r, DomIds.Invalid, "restore", e) : XenErrno.Ok;
        }
        if (errno != XenErrno.Ok || domain is null)
        {
            tally.Refused++;
            return false;
        }
        TryDelete(source.ImagePath(r));
        r.Saved = null;
        r.Domain = domain;
        r.DomId = domain.DomId;
        r.HostIndex = Index;
        ResumeDevices(r, domain);
        r.State = DomainState.Running;
        tally.Restores++;
        tally.RestoreNs += ImageNs(stats.FileBytes);
        tally.SavedNs += nowNs - tally.SavedAtNs;
        tally.SavedAtNs = -1;
        ConnectDisplay(domain);
        return true;
    }

    /// <summary>
    /// xl restore goes through xl's create path, autoballoon included (tools/xl/xl_vmcontrol.c, create_domain with a
    /// restore file): on Xen, a restore the host cannot hold now asks dom0 for the difference; true if it did (the
    /// caller waits, then restores), false when the restore needs nothing from dom0 or dom0 has nothing to give.
    /// </summary>
    internal bool AutoballoonForRestore(DomainRecord r, XlToolstack savedBy, DomainRecord dom0, out long neededPages)
    {
        neededPages = 0;
        if (r.Saved is not { } saved || r.State != DomainState.Saved) return false;
        try
        {
            using var stream = new FileStream(savedBy.ImagePath(r), FileMode.Open, FileAccess.Read, FileShare.Read);
            if (!Hv.RestorePagesNeeded(saved, stream, out neededPages)) return false;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The restore itself will find the image unreadable and say so.
            return false;
        }
        return Autoballoon(neededPages, dom0);
    }

    /// <summary>The run ends: time still spent saved is counted (<see cref="Dispose"/> removes the images and their directory).</summary>
    public void FinishSaves(IEnumerable<DomainRecord> records, long nowNs)
    {
        foreach (var r in records)
            if (r.SaveRestore is { SavedAtNs: >= 0 } tally) tally.SavedNs += nowNs - tally.SavedAtNs;
    }

    public void Dispose()
    {
        _saveDirectory?.Dispose();
        _saveDirectory = null;
    }

    // The file system failed the image (unwritable temporary directory, full disk, a file removed behind the run's
    // back): the action is refused and recorded, and the host events say what the system said.
    private XenErrno ImageFailed(DomainRecord r, ushort domid, string call, Exception e)
    {
        Hv.Events.Add(call, r.Name, $"The {call} image of {r.Name} could not be {(call == "save" ? "written" : "read")} under {Path.GetTempPath()}: {e.Message}");
        return Hv.Refusals.Record(domid, r.Name, call, XenErrno.EIO, RefusalCause.ImageIo, 0, 0);
    }

    private static void TryDelete(string? file)
    {
        try
        {
            if (file is not null) File.Delete(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The run's own directory goes when the run ends.
        }
    }

    // An image's bytes written or read sequentially at the cost model's rate.
    private double ImageNs(long bytes) => bytes * Costs.SaveImagePageNs / PageSize.Bytes;

    // The run's own directory for images, made at the first save (nothing the user has is written to or removed).
    private string ImagePath(DomainRecord r) => (_saveDirectory ??= SaveDirectory.Create()).ImagePath(r.Column);
}
