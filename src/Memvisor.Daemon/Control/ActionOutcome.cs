namespace Memvisor.Daemon.Control;

/// <summary>What became of one policy action: carried out as asked, carried out within the safety rules' bounds, refused by them, not something this backend can do, logged only (--dry-run), or failed.</summary>
public enum ActionResult { Applied, Clamped, Unchanged, DryRun, Refused, Unsupported, Failed }

/// <summary>One action's outcome for the log and the metrics: the policy's kind, the VM, what was asked and what was set (bytes, or pages per second for KSM), and why where it was not as asked.</summary>
public sealed record ActionOutcome(string Kind, string Vm, double Asked, double? Set, ActionResult Result, string? Reason);
