"""An application's redirect URI moves to its OAuth client (SPEC §8): the client's
`redirect_uris` (django-oauth-toolkit's field, space-separated) is where the authorization
endpoint reads the registered URIs, next to the post-logout URIs, allowed origins and
back-channel logout URI, so an application's registration has one home. A stored URI is
copied as it is (blanks inside it removed, since blanks separate URIs there); going back
keeps the first URI only."""

from django.db import migrations


def forwards(apps, schema_editor):
    ExternalApp = apps.get_model("federation", "ExternalApp")
    OAuthClient = apps.get_model("identity_server", "OAuthClient")
    for app in ExternalApp.objects.exclude(redirect_uri="").only("client_id", "redirect_uri"):
        uri = "".join(app.redirect_uri.split())
        if uri:
            OAuthClient.objects.filter(pk=app.client_id).update(redirect_uris=uri)


def backwards(apps, schema_editor):
    ExternalApp = apps.get_model("federation", "ExternalApp")
    for app in ExternalApp.objects.select_related("client"):
        uris = app.client.redirect_uris.split()
        if uris:
            app.redirect_uri = uris[0][:2048]
            app.save(update_fields=["redirect_uri"])


class Migration(migrations.Migration):
    dependencies = [
        ("federation", "0004_claims_matching_expressions"),
        ("identity_server", "0002_client_user_scopes_and_backchannel_logout"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
        migrations.RemoveField(model_name="externalapp", name="redirect_uri"),
    ]
