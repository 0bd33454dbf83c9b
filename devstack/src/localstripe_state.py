# Runs localstripe with its state in the file named by LOCALSTRIPE_STATE_FILE.
#
# localstripe 1.15 always saves its state to /tmp/localstripe.pickle (the path is fixed in
# localstripe.resources.Store, with no option or variable to change it), a file that every stack on
# the machine would share. This wrapper, run by devstack with the virtualenv's python, replaces the
# store's two disk methods before starting the server, so that each stack keeps its own file in its
# run directory and a restarted localstripe reloads its own state. It writes through a temporary
# file and a rename, so a localstripe killed while saving leaves the previous state whole. Nothing on
# disk is patched; the arguments (--port, --from-scratch) are localstripe's own.
import os
import pickle

from localstripe import resources, server

STATE_FILE = os.environ["LOCALSTRIPE_STATE_FILE"]


def load(store):
    try:
        with open(STATE_FILE, "rb") as f:
            old = pickle.load(f)
    except FileNotFoundError:
        return
    store.clear()
    store.update(old)


def dump(store):
    partial = STATE_FILE + ".partial"
    with open(partial, "wb") as f:
        pickle.dump(store, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(partial, STATE_FILE)


resources.Store.try_load_from_disk = load
resources.Store.dump_to_disk = dump
server.start()
