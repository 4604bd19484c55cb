from service.cli.app import app

app()
