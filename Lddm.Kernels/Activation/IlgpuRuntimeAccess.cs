using System.Runtime.CompilerServices;

// ILGPU's CPU accelerator emits a task type into its dynamic "ILGPURuntime" assembly that names the kernel's
// parameter types; internal shape structs (ActivationShape, LayerNormShape) must be visible to it.
// InternalsVisibleTo allows duplicates, so another family declaring the same line is harmless.
[assembly: InternalsVisibleTo("ILGPURuntime")]
