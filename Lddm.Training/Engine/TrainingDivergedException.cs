namespace Lddm.Training.Engine;

/// <summary>
/// A non-finite loss or gradient norm stopped the run (the divergence guard): the message names the step, the quantity,
/// the tensors that went non-finite and the last good checkpoint, which the guard leaves untouched.
/// </summary>
public sealed class TrainingDivergedException(string message) : Exception(message);
