# perf script output: samples separated by blank lines; each line "ip sym"
function flush(){ if (st=="") return; n++;
  b="other";
  if (st ~ /visibilityQueueTaskExecutor/) b="history: visibility queue (SQLite visibility writes)";
  else if (st ~ /service\/history\/queues|transferQueue|timerQueue|outboundQueue/) b="history: transfer/timer/other queues";
  else if (st ~ /historyEngineImpl\)\.RespondWorkflowTaskCompleted|Handler\)\.RespondWorkflowTaskCompleted/ && st ~ /service\/history/) b="history: RespondWorkflowTaskCompleted";
  else if (st ~ /service\/history\.\(\*Handler\)\.StartWorkflowExecution|historyEngineImpl\)\.StartWorkflowExecution/) b="history: StartWorkflowExecution";
  else if (st ~ /service\/history/) b="history: other";
  else if (st ~ /service\/frontend/) b="frontend handlers";
  else if (st ~ /service\/matching/) b="matching";
  else if (st ~ /gcBgMarkWorker|runtime\.gcDrain|bgsweep|bgscavenge/) b="Go GC (background)";
  else if (st ~ /grpc\/internal\/transport|x\/net\/http2|grpc\.\(\*Server\)\.serveStreams|grpc\.\(\*addrConn\)|grpc\.\(\*clientStream\)/) b="gRPC transport (HTTP/2 framing, loopback)";
  else if (st ~ /ringpop|membership|tchannel/) b="membership";
  else if (st ~ /schedule|findRunnable|mcall|park_m|goexit0/) b="Go scheduler";
  cnt[b]++;
  if (st ~ /prepareV2/) prep[b]++;
  if (st ~ /sqlite/) sq[b]++;
  if (st ~ /fsync/) fs[b]++;
  if (st ~ /compress\//) gz[b]++;
  st="" }
/^$/ { flush(); next }
{ st = st " " $2 }
END { flush(); for (b in cnt) printf "%5.1f%%  (sqlite %4.1f%%, of it stmt prepare %4.1f%%; fsync %3.1f%%; gzip %3.1f%%)  %s\n", 100*cnt[b]/n, 100*sq[b]/n, 100*prep[b]/n, 100*fs[b]/n, 100*gz[b]/n, b; printf "samples %d\n", n }
