SECRET_KEY = "django-insecure-development-placeholder"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "hello_django.urls"
MIDDLEWARE = []
INSTALLED_APPS = []
WSGI_APPLICATION = "hello_django.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
