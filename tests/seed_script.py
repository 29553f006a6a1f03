import sys
import asyncio
import inotipy

loop = asyncio.get_event_loop()

paths_to_watch = ["test"]  # edit as necessary


async def mainline():
    watcher = inotipy.Watcher.create()
    for path in paths_to_watch:
        watcher.watch(path, inotipy.IN.ALL_EVENTS)
    # end for
    while True:
        event = await watcher.get()
        sys.stdout.write(f"Got event: {repr(event)}\n")
    # end while


# end mainline

loop.run_until_complete(mainline())
