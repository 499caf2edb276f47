namespace Memvisor.Guest.Mm;

/// <summary>The guest's processes by slot (reused after exit; slot 0 is the kernel's own address space) and pid (never reused).</summary>
public sealed class ProcessTable
{
    private readonly List<Process?> _slots = [null];
    private readonly Stack<int> _free = new();
    private int _nextPid = 1;

    public IEnumerable<Process> Live => _slots.Where(p => p is { Exited: false })!;
    public int Count { get; private set; }

    public Process? this[int slot] => slot < _slots.Count ? _slots[slot] : null;

    /// <summary>Whether another process fits (slots are 16 bits in a page descriptor).</summary>
    public bool HasRoom => _free.Count > 0 || _slots.Count <= ushort.MaxValue;

    public Process Create(string name, ulong root)
    {
        int slot = _free.Count > 0 ? _free.Pop() : _slots.Count;
        var p = new Process(slot, _nextPid++, name, root);
        if (slot == _slots.Count) _slots.Add(p); else _slots[slot] = p;
        Count++;
        return p;
    }

    public void Release(Process p)
    {
        _slots[p.Slot] = null;
        _free.Push(p.Slot);
        Count--;
    }
}
