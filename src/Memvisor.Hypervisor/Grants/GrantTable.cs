using Memvisor.Machine;
using Memvisor.Machine.Frames;

namespace Memvisor.Hypervisor.Grants;

/// <summary>
/// One domain's grant table, after Xen's common/grant_table.c with v1 entries: frames the hypervisor allocates for the
/// domain (GNTTABOP_setup_table; Xen's are xenheap pages shared with the guest) whose bytes hold the entries, 512 to a
/// frame. The guest fills an entry to grant a page; the hypervisor sets the in-use bits while the page is mapped.
/// </summary>
internal sealed class GrantTable(MachineMemory machine)
{
    /// <summary>Xen's default limit on a domain's grant-table frames (gnttab_max_frames, 64 since Xen 4.10).</summary>
    public const int MaxFrames = 64;

    private readonly List<uint> _frames = [];

    public int Frames => _frames.Count;
    public IReadOnlyList<uint> FrameMfns => _frames;
    public uint Entries => (uint)(_frames.Count * GrantEntry.PerFrame);

    /// <summary>Grows the table to <paramref name="frames"/> frames (it never shrinks); false if no frame could be had (nothing changed then).</summary>
    public bool Grow(int frames, int node)
    {
        int had = _frames.Count;
        while (_frames.Count < frames)
        {
            if (!machine.TryAllocate(0, node, DomIds.Xen, out uint mfn))
            {
                Shrink(had);
                return false;
            }
            _frames.Add(mfn);
        }
        return true;
    }

    public GrantEntry Read(uint gref) => new(machine.ReadWord(_frames[(int)(gref / GrantEntry.PerFrame)], (int)(gref % GrantEntry.PerFrame)));

    public void Write(uint gref, GrantEntry e) => machine.WriteWord(_frames[(int)(gref / GrantEntry.PerFrame)], (int)(gref % GrantEntry.PerFrame), e.Raw);

    /// <summary>Gives every frame back (the domain is destroyed).</summary>
    public void Release() => Shrink(0);

    private void Shrink(int frames)
    {
        while (_frames.Count > frames)
        {
            machine.Free(_frames[^1], 0);
            _frames.RemoveAt(_frames.Count - 1);
        }
    }
}
