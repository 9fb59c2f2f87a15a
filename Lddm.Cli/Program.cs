using Lddm.Cli;

return Commands.Run(args);
