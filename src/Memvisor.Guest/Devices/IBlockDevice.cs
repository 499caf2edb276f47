using Memvisor.Guest.Storage;

namespace Memvisor.Guest.Devices;

/// <summary>
/// How the guest's file pages reach its disk. Without one the disk is reached directly (an emulated or local disk:
/// the bytes land in the guest's page and no other domain's memory is involved); a split driver
/// (<see cref="BlkFront"/>) goes through dom0's backend and the grant table.
/// </summary>
public interface IBlockDevice
{
    /// <summary>Whether it is connected now; the kernel reaches its disk directly while it is not.</summary>
    bool Connected { get; }

    /// <summary>Reads block <paramref name="block"/> of disk <paramref name="diskId"/> into the page at <paramref name="gfn"/>.</summary>
    bool Read(PageStore disk, int diskId, ulong gfn, long block);

    /// <summary>Writes the page at <paramref name="gfn"/> to block <paramref name="block"/> of disk <paramref name="diskId"/>.</summary>
    bool Write(PageStore disk, int diskId, ulong gfn, long block);
}
