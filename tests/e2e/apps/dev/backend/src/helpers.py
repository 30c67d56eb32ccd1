def answer():
    return "v1"
