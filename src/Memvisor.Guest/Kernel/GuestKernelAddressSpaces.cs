using Memvisor.Machine.Frames;
using Memvisor.Guest.Memory;
using Memvisor.Guest.Mm;
using Memvisor.Guest.PageCache;

namespace Memvisor.Guest.Kernel;

// Address spaces: processes, their mappings and page tables, context switches and working-set sampling.
public sealed partial class GuestKernel
{
    /// <summary>Starts a process (fork and exec): a fresh address space sharing the kernel's upper half, with the C library mapped; null if the kernel cannot make one.</summary>
    public Process? Spawn(string name)
    {
        if (!Processes.HasRoom || !Booted) return null;
        var (ok, root) = NewTable(null);
        if (!ok) return null;
        for (int i = FirstKernelSlot; i < 512; i++)
        {
            ulong e = Tables.Read(KernelRoot, i);
            if (e != 0) Tables.Write(root, i, e);
        }
        if (!Mmu.PinTopLevel(root))
        {
            Counters.MmuRefusals++;
            FreeTable(root);
            return null;
        }
        var p = Processes.Create(name, root);
        Pages.Assign(root, PageUse.PageTable, p.Slot, 0);
        p.Counters.PageTablePages = 1;
        for (int i = 0; i < Libraries.Length; i++) MapFile(p, _files[i], writable: false);
        return p;
    }

    /// <summary>Runs a new process's start-up: it executes the first pages of its C library (shared by every process of the guest).</summary>
    public void StartProgram(Process p, int libraryPages = 32)
    {
        var libc = p.Vmas.FirstOrDefault(v => v.Kind == VmaKind.File && v.FileId == 0);
        if (libc is null) return;
        for (ulong i = 0; i < (ulong)Math.Min(libraryPages, (long)libc.Pages) && !p.Exited; i++)
            Access(p, (libc.Start + i) << PageSize.Shift, write: false);
    }

    /// <summary>Ends a process: its pages, swap slots and page tables are freed.</summary>
    public void Exit(Process p)
    {
        if (p.Exited) return;
        // Off its tables first, and let the hypervisor drop its pin or shadows, so that tearing them down is
        // neither validated nor trapped (Xen's early unshadow).
        if (_running == p) RunKernel();
        Mmu.ReleaseAddressSpace(p.Root);
        foreach (var vma in p.Vmas.ToList())
        {
            if (vma.Kind == VmaKind.File) _files[vma.FileId].Mappings.Remove((p, vma));
            p.Remove(vma);
        }
        UnmapRange(p, 0, 1UL << 35);
        Tables.ForEachUserTable(p.Root, FreeTable);
        FreeTable(p.Root);
        Integrity?.Forget(p);
        Processes.Release(p);
        p.Exited = true;
    }

    /// <summary>mmap(MAP_ANONYMOUS | MAP_PRIVATE): reserves <paramref name="pages"/> of zero-filled memory; returns its address.</summary>
    public ulong MapAnonymous(Process p, long pages)
    {
        ulong start = p.PlaceMapping((ulong)pages);
        p.Add(new Vma(start, start + (ulong)pages, VmaKind.Anon, writable: true));
        return start << PageSize.Shift;
    }

    /// <summary>Maps a whole file into <paramref name="p"/>; returns its address.</summary>
    public ulong MapFile(Process p, GuestFile file, bool writable)
    {
        ulong start = p.PlaceMapping((ulong)file.Pages);
        var vma = new Vma(start, start + (ulong)file.Pages, VmaKind.File, writable, file.Id, 0);
        p.Add(vma);
        file.Mappings.Add((p, vma));
        return start << PageSize.Shift;
    }

    /// <summary>munmap of a whole mapping that starts at <paramref name="address"/>.</summary>
    public void Unmap(Process p, ulong address)
    {
        var vma = p.Find(address >> PageSize.Shift);
        if (vma is null || vma.Start != address >> PageSize.Shift) return;
        if (vma.Kind == VmaKind.File) _files[vma.FileId].Mappings.Remove((p, vma));
        p.Remove(vma);
        UnmapRange(p, vma.Start, vma.End);
        Integrity?.Forget(p, vma.Start, vma.End);
    }

    /// <summary>Grows or maps the anonymous region around <paramref name="vpn"/> (2 MiB at a time) for a process whose mappings are not known ahead, such as a replayed trace.</summary>
    internal Vma MapRegionAround(Process p, ulong vpn)
    {
        ulong start = vpn & ~511UL, end = start + 512;
        // Clip to the gap between the neighbouring mappings, so the region never overlaps one.
        foreach (var v in p.Vmas)
        {
            if (v.End <= vpn) start = Math.Max(start, v.End);
            else if (v.Start > vpn) end = Math.Min(end, v.Start);
        }
        var vma = new Vma(start, end, VmaKind.Anon, writable: true);
        p.Add(vma);
        return vma;
    }

    private void UnmapRange(Process p, ulong start, ulong end)
    {
        Tables.ForEachLeaf(p.Root, start, end, (vpn, table, index, e) =>
        {
            if (Pte.IsPresent(e) && (e & Pte.Huge) != 0) Thp!.Zap(p, vpn, e);
            else if (Pte.IsPresent(e))
            {
                ulong gfn = Pte.Frame(e);
                if (Pages.UseOf(gfn) == PageUse.Anon)
                {
                    Pages.Remove(gfn);
                    Allocator.Give(gfn);
                    p.Counters.RssAnon--;
                }
                else p.Counters.RssFile--;
            }
            else if (Pte.IsSwap(e))
            {
                Swap.Free(Pte.SwapSlot(e));
                p.Counters.SwapEntries--;
            }
            Tables.Write(table, index, 0);
        });
        // One flush for the range (Linux's mmu_gather), and the lazy updates issued before any page is reused.
        Mmu.FlushAddressSpace(p.Slot);
        Mmu.Submit();
    }

    private void FreeTable(ulong gfn) => Allocator.Give(gfn);


    // A context switch: the vCPU loads p's tables.
    private bool Run(Process p)
    {
        if (!Mmu.SwitchAddressSpace(p.Root, p.Slot))
        {
            Counters.MmuRefusals++;
            return false;
        }
        _running = p;
        return true;
    }

    private void RunKernel()
    {
        Mmu.SwitchAddressSpace(KernelRoot, KernelSlot);
        _running = null;
    }


    // Counts and clears the accessed bits of processes that track their working set, once per window (as
    // /proc/PID/clear_refs and idle page tracking do); the page keeps a young flag so reclaim still sees the reference.
    private void SampleWorkingSets(long nowNs)
    {
        foreach (var p in Processes.Live)
        {
            if (p.WorkingSetWindowNs <= 0 || nowNs < p.NextWorkingSetSampleNs) continue;
            long count = 0;
            Tables.ForEachLeaf(p.Root, 0, 1UL << 35, (vpn, table, index, e) =>
            {
                if (!Pte.IsPresent(e) || (e & Pte.Accessed) == 0) return;
                // A huge page's one accessed bit stands for its 512 pages.
                int pages = (e & Pte.Huge) != 0 ? 512 : 1;
                count += pages;
                Tables.Write(table, index, e & ~Pte.Accessed);
                for (int i = 0; i < pages; i++) Pages[Pte.Frame(e) + (ulong)i].Flags |= PageFlags.Young;
            });
            // One flush per sweep, as clear_refs does.
            if (count > 0) Mmu.FlushAddressSpace(p.Slot);
            p.WorkingSetPages = count;
            p.NextWorkingSetSampleNs = nowNs + p.WorkingSetWindowNs;
        }
    }
}
