from lstmlab.cli import entry

entry()
