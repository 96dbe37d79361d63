//! Process signals from /proc for vitals: CPU ticks, state, start time, threads, RSS, process trees
