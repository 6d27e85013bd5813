using System.Text;
using System.Text.Json;
using LiveUpdateFs.Fuse.Status;
using LiveUpdateFs.Tests.Integration;

namespace LiveUpdateFs.Tests.Fuse;

/// <summary>status.json: one document type for the daemon and the commands,
/// and docs/status.schema.json, which the scripts check against, say the same.</summary>
public sealed class StatusDocumentTests
{
    private static StatusDocument Sample() => new(4242, "00112233aabbccdd", false, true, false, "serving", true,
        new StatusRequests(Lookup: 3, Getattr: 2, Setattr: 0, Open: 5, Read: 1, Write: 0, Flush: 0, Release: 4, Readdir: 0, Ioctl: 9),
    [
        new StatusSession(1, "vm-a", "outgoing", "s-1-abc", [new StatusFile("18446744073709551615", "memfd-v2", 4096, "preserved")]),
        new StatusSession(2, "vm-b", "incoming", null, []),
    ]);

    private static JsonElement Schema()
    {
        using JsonDocument schema = JsonDocument.Parse(File.ReadAllText(Path.Combine(Repository.Root, "docs", "status.schema.json")));
        return schema.RootElement.Clone();
    }

    /// <summary>The object's keys and JSON types agree with the schema's object (every key required, no other).</summary>
    private static void AssertMatches(JsonElement value, JsonElement schema, string where)
    {
        var required = schema.GetProperty("required").EnumerateArray().Select(k => k.GetString()!).Order().ToList();
        var properties = schema.GetProperty("properties");
        Assert.That(value.EnumerateObject().Select(p => p.Name).Order().ToList(), Is.EqualTo(required), $"{where}: the keys written are the schema's required keys");
        Assert.That(properties.EnumerateObject().Select(p => p.Name).Order().ToList(), Is.EqualTo(required), $"{where}: the schema lists no optional key");
        foreach (JsonProperty key in value.EnumerateObject())
        {
            JsonElement rule = properties.GetProperty(key.Name);
            if (!rule.TryGetProperty("type", out JsonElement type))
                continue; // a $ref: checked by the caller
            var allowed = type.ValueKind == JsonValueKind.Array ? type.EnumerateArray().Select(t => t.GetString()!).ToList() : [type.GetString()!];
            Assert.That(allowed, Does.Contain(TypeOf(key.Value)), $"{where}.{key.Name}");
        }
    }

    private static string TypeOf(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Object => "object",
        JsonValueKind.Array => "array",
        JsonValueKind.String => "string",
        JsonValueKind.Number => "integer",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        _ => "null",
    };

    [Test]
    [Description("The daemon's document has exactly the keys and types of docs/status.schema.json, at every level")]
    public void The_daemons_document_has_the_keys_and_types_of_the_schema()
    {
        JsonElement schema = Schema();
        using JsonDocument written = JsonDocument.Parse(Sample().ToJson());
        AssertMatches(written.RootElement, schema, "status");
        AssertMatches(written.RootElement.GetProperty("fuseRequests"), schema.GetProperty("$defs").GetProperty("fuseRequests"), "fuseRequests");
        foreach (JsonElement session in written.RootElement.GetProperty("sessions").EnumerateArray())
        {
            AssertMatches(session, schema.GetProperty("$defs").GetProperty("session"), "session");
            foreach (JsonElement file in session.GetProperty("files").EnumerateArray())
                AssertMatches(file, schema.GetProperty("$defs").GetProperty("file"), "file");
        }
    }

    [Test]
    [Description("What the daemon writes, a command reads back unchanged; status's holder fields appear only once filled in")]
    public void A_written_document_reads_back_unchanged()
    {
        StatusDocument sample = Sample();
        StatusDocument read = StatusDocument.Parse(sample.ToJson())!;
        Assert.That(read, Is.Not.Null);
        Assert.That(read with { Sessions = sample.Sessions }, Is.EqualTo(sample));
        Assert.That(read.Sessions.Select(s => (s.Id, s.Name, s.Kind, s.Node, s.Files.Count)),
            Is.EqualTo(sample.Sessions.Select(s => (s.Id, s.Name, s.Kind, s.Node, s.Files.Count))));
        Assert.That(read.Sessions[0].Files[0], Is.EqualTo(sample.Sessions[0].Files[0]));
        Assert.That(Encoding.UTF8.GetString(sample.ToJson()), Does.Not.Contain("holders").IgnoreCase);
        string filled = Encoding.UTF8.GetString((sample with { DeviceHolders = [7], HoldersComplete = true }).ToJson());
        Assert.That(filled, Does.Contain("\"deviceHolders\"").And.Contain("\"holdersComplete\": true"));
    }

    [TestCase("\"frozen\": false,", "", TestName = "{m}(a key missing)")]
    [TestCase("\"daemonPid\": 4242", "\"daemonPid\": \"4242\"", TestName = "{m}(a number as text)")]
    [TestCase("\"name\": \"vm-a\"", "\"name\": null", TestName = "{m}(null where text is required)")]
    [TestCase("{", "[", TestName = "{m}(not an object)")]
    [Description("A document that is not the daemon's is refused as a whole (the commands then refuse to act on it)")]
    public void Parse_refuses_a_document_that_is_not_the_daemons(string from, string to)
    {
        string json = Encoding.UTF8.GetString(Sample().ToJson());
        Assert.That(json, Does.Contain(from), "the sample has what the case changes");
        string changed = json.Replace(from, to);
        Assert.That(StatusDocument.Parse(Encoding.UTF8.GetBytes(changed)), Is.Null, changed);
    }
}
