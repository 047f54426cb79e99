from l5d.main import run

run()
