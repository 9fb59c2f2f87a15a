// ILGPU's CPU accelerator runs every GPU thread as an OS thread; one kernel at a time keeps the 2-core
// machine from thrashing and keeps a backend's stream single-threaded.
[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]
