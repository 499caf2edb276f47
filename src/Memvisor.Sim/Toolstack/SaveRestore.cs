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
    private string? _saveDirectory;

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
        string file = ImagePath(r);
        (long tot, long max, long target) = (d.TotPages, d.MaxPages, d.TargetPages);
        XenErrno errno;
        Hypervisor.Save.SavedDomain? saved;
        Hypervisor.Save.SaveStats stats;
        using (var stream = new FileStream(file, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None))
            errno = Hv.SaveDomain(d.DomId, stream, out saved, out stats);
        if (errno != XenErrno.Ok || saved is null)
        {
            // A refused save leaves an incomplete image: it is not kept.
            File.Delete(file);
            tally.Refused++;
            return false;
        }
        (r.FinalTotPages, r.FinalMaxPages, r.FinalTargetPages) = (tot, max, target);
        r.Saved = saved;
        r.State = DomainState.Saved;
        tally.Saves++;
        tally.LastImage = stats;
        tally.ImageBytes += stats.FileBytes;
        tally.SaveNs += ImageNs(stats.FileBytes);
        tally.SavedAtNs = nowNs;
        return true;
    }

    /// <summary>
    /// xl restore: a new domain is built from the instance's image and its guest resumes in it, with the display
    /// backend connected again and its paging target set. False (it stays saved) if the image cannot be read or the
    /// host cannot hold it now.
    /// </summary>
    public bool Restore(DomainRecord r, long nowNs)
    {
        if (r.Saved is not { } saved || r.State != DomainState.Saved)
        {
            Hv.Refusals.Record(DomIds.Invalid, r.Name, "restore", XenErrno.ESRCH, RefusalCause.NotSaved, 0, 0);
            return false;
        }
        var tally = r.SaveRestore!;
        XenErrno errno;
        Hypervisor.Domains.Domain? domain;
        Hypervisor.Save.SaveStats stats;
        using (var stream = new FileStream(ImagePath(r), FileMode.Open, FileAccess.Read, FileShare.Read))
            errno = Hv.RestoreDomain(saved, stream, out domain, out stats);
        if (errno != XenErrno.Ok || domain is null)
        {
            tally.Refused++;
            return false;
        }
        File.Delete(ImagePath(r));
        r.Saved = null;
        r.Domain = domain;
        r.DomId = domain.DomId;
        r.State = DomainState.Running;
        tally.Restores++;
        tally.RestoreNs += ImageNs(stats.FileBytes);
        tally.SavedNs += nowNs - tally.SavedAtNs;
        tally.SavedAtNs = -1;
        ConnectDisplay(domain);
        if (r.Spec?.PagingTargetBytes is long target) Hv.DomCtl.SetPagingTarget(domain.DomId, PageSize.FromBytes(target));
        return true;
    }

    /// <summary>The run ends: time still spent saved is counted, and the images and their directory are removed.</summary>
    public void FinishSaves(IEnumerable<DomainRecord> records, long nowNs)
    {
        foreach (var r in records)
            if (r.SaveRestore is { SavedAtNs: >= 0 } tally) tally.SavedNs += nowNs - tally.SavedAtNs;
    }

    public void Dispose()
    {
        if (_saveDirectory is not null && Directory.Exists(_saveDirectory)) Directory.Delete(_saveDirectory, recursive: true);
        _saveDirectory = null;
    }

    // An image's bytes written or read sequentially at the cost model's rate.
    private double ImageNs(long bytes) => bytes * Costs.SaveImagePageNs / PageSize.Bytes;

    // The run's own directory for images, made at the first save (nothing the user has is written to or removed).
    private string ImagePath(DomainRecord r)
    {
        _saveDirectory ??= Directory.CreateTempSubdirectory("memvisor-save-").FullName;
        return Path.Combine(_saveDirectory, $"{r.Column}.xlsave");
    }
}
