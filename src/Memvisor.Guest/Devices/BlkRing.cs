using Memvisor.Seam;

namespace Memvisor.Guest.Devices;

/// <summary>
/// The shared ring of a PV block device, in one page the frontend grants and the backend maps (Xen's
/// public/io/blkif.h and ring.h, reduced to one segment per request): word 0 is req_prod, word 1 rsp_prod, then 32
/// slots of four words: the operation (the status once answered), the grant reference of the data page, the disk
/// and the block. Both sides read and write these words through their own view of the page.
/// </summary>
internal static class BlkRing
{
    public const int Slots = 32;
    public const int ReqProd = 0, RspProd = 1;
    public const ulong OpRead = 0, OpWrite = 1, StatusOk = 2, StatusError = 3;

    /// <summary>Word <paramref name="field"/> (0: op or status, 1: gref, 2: disk, 3: block) of the slot for request <paramref name="index"/>.</summary>
    public static int Word(ulong index, int field) => 2 + (int)(index % Slots) * 4 + field;

    public static ulong Read(IGuestPhysicalMemory memory, ulong ring, int word) =>
        memory.TryReadWord(new Gfn(ring), word, out ulong v) ? v : ulong.MaxValue;
}
