// meshui's own script: no inline JavaScript anywhere (the Content Security Policy forbids it).
