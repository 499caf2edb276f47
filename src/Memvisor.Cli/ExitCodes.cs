namespace Memvisor.Cli;

public static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>The run itself failed (a bug or the machine), not the input.</summary>
    public const int Failure = 1;
    /// <summary>Bad input: a scenario or an argument was refused before anything ran.</summary>
    public const int BadInput = 2;
}
