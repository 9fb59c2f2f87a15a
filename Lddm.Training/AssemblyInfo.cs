using System.Runtime.CompilerServices;

// Fault-injection hooks (e.g. SafeTensors.AfterHeaderWritten) are internal and used only by the tests.
[assembly: InternalsVisibleTo("Lddm.Training.Tests")]
