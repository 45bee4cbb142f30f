"""Requests that arrive together become one call.

One worker thread runs every model call, so JAX work never interleaves. The
requests that queue while a call runs form the next call (at most
`max_batch`, the largest serving bucket): one client waits for no one, and
under load each call serves many requests, so throughput grows with
concurrency without a fixed batching delay.
"""

import asyncio
import concurrent.futures


class Batcher:
  """fn: [request] -> [result], run on the worker thread."""

  def __init__(self, fn, max_batch: int):
    self._fn, self._max = fn, max_batch
    self.executor = concurrent.futures.ThreadPoolExecutor(
        1, thread_name_prefix="model")
    self._queue = None
    self._task = None
    self.calls = 0  # model calls made (batch sizes are requests / calls)

  def start(self) -> None:
    self._queue = asyncio.Queue()
    self._task = asyncio.get_running_loop().create_task(self._run())

  async def submit(self, request):
    future = asyncio.get_running_loop().create_future()
    self._queue.put_nowait((request, future))
    return await future

  async def run(self, fn, *args):
    """Any other model work (explanations), on the same worker thread."""
    return await asyncio.get_running_loop().run_in_executor(
        self.executor, fn, *args)

  async def _run(self) -> None:
    loop = asyncio.get_running_loop()
    while True:
      batch = [await self._queue.get()]
      while len(batch) < self._max and not self._queue.empty():
        batch.append(self._queue.get_nowait())
      batch = [(r, f) for r, f in batch if not f.cancelled()]
      if not batch:
        continue
      try:
        results = await loop.run_in_executor(
            self.executor, self._fn, [r for r, _ in batch])
      except Exception as e:  # Each waiting request gets the error.
        for _, f in batch:
          if not f.done():
            f.set_exception(e)
        continue
      self.calls += 1
      for (_, f), result in zip(batch, results):
        if not f.done():
          f.set_result(result)

  async def stop(self) -> None:
    if self._task is not None:
      self._task.cancel()
      try:
        await self._task
      except asyncio.CancelledError:
        pass
    self.executor.shutdown(wait=True)
