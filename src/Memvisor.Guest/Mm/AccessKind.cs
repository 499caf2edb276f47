namespace Memvisor.Guest.Mm;

/// <summary>The kinds of memory access Valgrind's lackey records: instruction fetch, load, store, modify (load and store).</summary>
public enum AccessKind : byte
{
    Instruction,
    Load,
    Store,
    Modify,
}
