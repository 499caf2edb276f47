using Memvisor.Seam;
using Memvisor.Guest.Kernel;
using Memvisor.Guest.Mm;
using Memvisor.Guest.PageCache;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;

namespace Memvisor.Guest.Integrity;

/// <summary>
/// Checks DESIGN.md invariant 4 from the guest's side: it remembers what each process last wrote to each of its
/// pages (and each file page), and compares the bytes of every later read, and on demand of every page wherever it
/// now lives (a frame, a swap slot, the file on disk), with what was written. A page never written must read as
/// zeros (anonymous) or as the file's original bytes. A synthetic page's bytes are a pure function of its content
/// handle, so where the page and what was written are both zero or synthetic the handles are compared and no bytes
/// are generated; otherwise the bytes are.
/// </summary>
public sealed class IntegrityChecker(GuestKernel k)
{
    private const int KeptMessages = 20;
    private readonly Dictionary<int, WrittenPages> _anon = [];
    private readonly Dictionary<(int File, long Index), ContentHandle> _files = [];
    private readonly byte[] _expected = new byte[PageSize.Bytes];
    private readonly byte[] _actual = new byte[PageSize.Bytes];
    private readonly List<string> _messages = [];

    public long Checks { get; private set; }
    public long Violations { get; private set; }
    public IReadOnlyList<string> Messages => _messages;

    public void Wrote(Process p, ulong vpn, ContentHandle content)
    {
        if (!_anon.TryGetValue(p.Pid, out var pages)) _anon[p.Pid] = pages = new WrittenPages();
        pages.Set(vpn, content);
    }

    public void WroteFile(GuestFile f, long index, ContentHandle content) => _files[(f.Id, index)] = content;

    public void Forget(Process p) => _anon.Remove(p.Pid);

    public void Forget(Process p, ulong start, ulong end)
    {
        if (_anon.TryGetValue(p.Pid, out var pages)) pages.Forget(start, end);
    }

    public void CheckRead(Process p, ulong vpn, ulong gfn)
    {
        var vma = p.Find(vpn);
        if (vma is { Kind: VmaKind.File })
        {
            CheckFile(k.Files[vma.FileId], (long)(vma.FileOffset + vpn - vma.Start), gfn);
            return;
        }
        var outcome = CheckFrame(gfn, ExpectedAnon(p, vpn));
        if (outcome != FrameCheck.Same) Fail(outcome, $"{p.Name} (pid {p.Pid}) page {vpn:x}", gfn);
    }

    public void CheckFile(GuestFile f, long index, ulong gfn)
    {
        var outcome = CheckFrame(gfn, ExpectedFile(f, index));
        if (outcome != FrameCheck.Same) Fail(outcome, $"page {index} of {f.Name}", gfn);
    }

    /// <summary>Checks every page the guest wrote, wherever it now is; returns the violations found.</summary>
    public long VerifyAll()
    {
        long before = Violations;
        foreach (var p in k.Processes.Live)
        {
            if (!_anon.TryGetValue(p.Pid, out var pages)) continue;
            foreach (var (vpn, content) in pages.Entries())
            {
                ulong e = k.Tables.Walk(p.Root, vpn, out _, out _, out int level);
                string where = $"{p.Name} (pid {p.Pid}) page {vpn:x}";
                if (Pte.IsPresent(e))
                {
                    ulong gfn = Pte.Frame(e) + (level == 2 ? vpn & 511 : 0);
                    var outcome = CheckFrame(gfn, content);
                    if (outcome != FrameCheck.Same) Fail(outcome, where, gfn);
                }
                else if (Pte.IsSwap(e))
                {
                    Expect(content);
                    if (!k.Swap.TryRead(k.Memory, Pte.SwapSlot(e), _actual)) Fail($"{where} is in swap slot {Pte.SwapSlot(e)}, which frontswap lost.");
                    else Compare($"{where} in swap slot {Pte.SwapSlot(e)}");
                }
                else Fail($"{where} was written but is neither mapped nor in swap: its data is lost.");
            }
        }
        foreach (var ((fileId, index), content) in _files)
        {
            var f = k.Files[fileId];
            if (f.TryGetCached(index, out ulong gfn))
            {
                var outcome = CheckFrame(gfn, content);
                if (outcome != FrameCheck.Same) Fail(outcome, $"page {index} of {f.Name}", gfn);
            }
            else
            {
                Expect(content);
                f.Disk.Read(index, _actual);
                Compare($"page {index} of {f.Name} on disk");
            }
        }
        return Violations - before;
    }

    private ContentHandle ExpectedAnon(Process p, ulong vpn) =>
        _anon.TryGetValue(p.Pid, out var pages) && pages.TryGet(vpn, out var c) ? c : ContentHandle.Zero;

    private ContentHandle ExpectedFile(GuestFile f, long index) =>
        _files.TryGetValue((f.Id, index), out var c) ? c : f.Disk.Initial(index);

    private void Expect(ContentHandle content) => Generate(content, _expected);

    private static void Generate(ContentHandle content, Span<byte> page)
    {
        if (content.IsZero) page.Clear();
        else ContentGenerator.Fill(content.SyntheticClass, content.Seed, page);
    }

    private enum FrameCheck { Same, Unreadable, Differs }

    // Reads the page at gfn and checks it holds `expected`: by handle when both are zero or synthetic and equal,
    // else by bytes. The message is made only for a failure, so a check allocates nothing.
    private FrameCheck CheckFrame(ulong gfn, ContentHandle expected)
    {
        if (!k.Memory.ReadPageOrHandle(new Gfn(gfn), _actual, out var actual)) return FrameCheck.Unreadable;
        Checks++;
        if (actual.IsZero || actual.IsSynthetic)
        {
            if (actual == expected) return FrameCheck.Same;
            Generate(actual, _actual);
        }
        Expect(expected);
        return _expected.AsSpan().SequenceEqual(_actual) ? FrameCheck.Same : FrameCheck.Differs;
    }

    private void Fail(FrameCheck outcome, string what, ulong gfn) => Fail(outcome == FrameCheck.Unreadable
        ? $"{what} is at gfn {gfn}, which the domain could not read (it does not hold it, or the hypervisor withheld it)."
        : $"{what} at gfn {gfn} does not hold the bytes last written to it.");

    private void Compare(string what)
    {
        Checks++;
        if (!_expected.AsSpan().SequenceEqual(_actual)) Fail($"{what} does not hold the bytes last written to it.");
    }

    private void Fail(string message)
    {
        // A read the hypervisor refused because it crashed the domain is not lost data: the guest stopped there.
        if (k.Memory.Halted) return;
        Violations++;
        if (_messages.Count < KeptMessages) _messages.Add(message);
    }
}
